package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/testutil"
)

// berlin is the fixture's time zone; fixtureEnd its run time, a Monday
// 08:00 local time.
var (
	berlin, _  = time.LoadLocation("Europe/Berlin")
	fixtureEnd = time.Date(2026, time.March, 9, 8, 0, 0, 0, berlin)
)

func scale(lo, hi int32) *cxv1alpha1.Scale { return &cxv1alpha1.Scale{Min: lo, Max: hi} }

// fixtureTouchpoints is the seed scenario: the installation survey (ease
// 1-10 feeding CES, completed yes/no, two rated drivers) and a relationship
// NPS survey with a CSAT question and three rated drivers.
func fixtureTouchpoints() []cxv1alpha1.SurveyTouchpoint {
	tp := func(name, display string, qs ...cxv1alpha1.Question) cxv1alpha1.SurveyTouchpoint {
		return cxv1alpha1.SurveyTouchpoint{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "acme"},
			Spec:       cxv1alpha1.SurveyTouchpointSpec{DisplayName: display, Channel: cxv1alpha1.ChannelWeb, Questions: qs},
		}
	}
	return []cxv1alpha1.SurveyTouchpoint{
		tp("install", "Software installation",
			cxv1alpha1.Question{ID: "ease", Text: "How easy was it to install?", Type: cxv1alpha1.QuestionRating, Scale: scale(1, 10), KPI: cxv1alpha1.KPICES},
			cxv1alpha1.Question{ID: "completed", Text: "Were you able to complete the installation?", Type: cxv1alpha1.QuestionYesNo},
			cxv1alpha1.Question{ID: "docs", Text: "Documentation", Type: cxv1alpha1.QuestionRating, Scale: scale(1, 5), Driver: true},
			cxv1alpha1.Question{ID: "download", Text: "Download speed", Type: cxv1alpha1.QuestionRating, Scale: scale(1, 5), Driver: true},
		),
		tp("relationship", "Relationship survey",
			cxv1alpha1.Question{ID: "recommend", Text: "How likely are you to recommend Acme?", Type: cxv1alpha1.QuestionNPS},
			cxv1alpha1.Question{ID: "satisfied", Text: "How satisfied are you overall?", Type: cxv1alpha1.QuestionCSAT},
			cxv1alpha1.Question{ID: "support", Text: "Support", Type: cxv1alpha1.QuestionRating, Scale: scale(1, 5), Driver: true, KPI: cxv1alpha1.KPICSAT},
			cxv1alpha1.Question{ID: "value", Text: "Value for money", Type: cxv1alpha1.QuestionRating, Scale: scale(1, 5), Driver: true, KPI: cxv1alpha1.KPICSAT},
		),
	}
}

// fixtureSubscription asks for every section.
func fixtureSubscription() *cxv1alpha1.ReportSubscription {
	target, p, baseline := 40.0, 0.25, 70.0
	return &cxv1alpha1.ReportSubscription{
		ObjectMeta: metav1.ObjectMeta{Name: "weekly", Namespace: "acme"},
		Spec: cxv1alpha1.ReportSubscriptionSpec{
			Title:       "Weekly installation experience",
			Schedule:    "0 8 * * MON",
			TimeZone:    "Europe/Berlin",
			Touchpoints: cxv1alpha1.TouchpointSelection{Names: []string{"install", "relationship"}},
			Window:      &cxv1alpha1.Duration{Duration: 168 * time.Hour},
			CompareWith: cxv1alpha1.ComparePreviousWindow,
			Sections: []cxv1alpha1.ReportSection{
				cxv1alpha1.SectionKPIs, cxv1alpha1.SectionTrend, cxv1alpha1.SectionSegments, cxv1alpha1.SectionCases,
				cxv1alpha1.SectionKeyDrivers, cxv1alpha1.SectionThemes, cxv1alpha1.SectionGoals,
			},
			Trend:    &cxv1alpha1.TrendSpec{Period: cxv1alpha1.TrendWeek, Periods: 8},
			Segments: &cxv1alpha1.SegmentsSpec{GroupBy: "customer.tier", Top: 2, MinResponses: 10},
			Goals: []cxv1alpha1.Goal{
				{KPI: cxv1alpha1.KPINPS, Target: &target, By: "2026-06-30"},
				{KPI: cxv1alpha1.KPICSAT, PercentOfOpportunity: &p, Baseline: &baseline, By: "2026-12-31"},
			},
			Channels: []string{"cx-team"},
		},
	}
}

// fixtureResponses are eight weeks of answers before fixtureEnd that slowly
// improve, from a fixed seed.
func fixtureResponses() []store.NewResponse {
	rng := rand.New(rand.NewPCG(7, 11))
	tiers := []string{"Gold", "Silver", "Bronze", "Trial"}
	var out []store.NewResponse
	start := fixtureEnd.AddDate(0, 0, -56)
	clamp := func(v, lo, hi int) int { return max(lo, min(hi, v)) }
	for i := range 900 {
		at := start.Add(time.Duration(i) * (56 * 24 * time.Hour / 900)).Add(time.Duration(rng.IntN(3600)) * time.Second)
		progress := float64(i) / 900 // 0 → 1 over the eight weeks
		tier := tiers[rng.IntN(len(tiers))]
		docs, download := 1+rng.IntN(5), 1+rng.IntN(5)
		sentiment := float64(rng.IntN(200)-100) / 100
		var themes []string
		switch rng.IntN(6) {
		case 0:
			themes = []string{"install"}
		case 1:
			themes = []string{"docs"}
		case 2:
			themes = []string{"refund", "billing"}
		}
		r := store.NewResponse{
			ID:       fmt.Sprintf("r-%04d", i),
			Customer: store.Customer{ID: fmt.Sprintf("c-%d", rng.IntN(300)), Tier: tier},
			Metadata: map[string]string{"store": fmt.Sprintf("store-%d", rng.IntN(4))},
			Themes:   themes, Sentiment: &sentiment, SubmittedAt: at,
		}
		var answers map[string]any
		if i%2 == 0 {
			r.Touchpoint = "install"
			ease := clamp(docs+download+rng.IntN(3)+int(progress*2), 1, 10)
			answers = map[string]any{"ease": ease, "completed": rng.IntN(5) != 0, "docs": docs, "download": download}
		} else {
			r.Touchpoint = "relationship"
			support, value := 1+rng.IntN(5), 1+rng.IntN(5)
			nps := clamp(support+value-1+rng.IntN(3)+int(progress*2), 0, 10)
			if tier == "Gold" {
				nps = clamp(nps+2, 0, 10)
			}
			answers = map[string]any{"recommend": nps, "satisfied": clamp((support+value+1)/2, 1, 5), "support": support, "value": value}
		}
		r.Answers, _ = json.Marshal(answers)
		out = append(out, r)
	}
	return out
}

// fixtureCases are Cases of two templates in and around the window.
func fixtureCases() []cxv1alpha1.Case {
	at := func(d string) *metav1.Time {
		t, err := time.ParseInLocation("2006-01-02 15:04", d, berlin)
		if err != nil {
			panic(err)
		}
		return &metav1.Time{Time: t}
	}
	yes, no := true, false
	mk := func(name, template string, st cxv1alpha1.CaseStatus, res *cxv1alpha1.Resolution) cxv1alpha1.Case {
		return cxv1alpha1.Case{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "acme"},
			Spec:       cxv1alpha1.CaseSpec{Template: template, Resolution: res},
			Status:     st,
		}
	}
	spent := func(ds ...time.Duration) []cxv1alpha1.CaseAction {
		var out []cxv1alpha1.CaseAction
		for _, d := range ds {
			out = append(out, cxv1alpha1.CaseAction{By: "sofia", Type: cxv1alpha1.ActionNote, TimeSpent: &cxv1alpha1.Duration{Duration: d}})
		}
		return out
	}
	cases := []cxv1alpha1.Case{
		// Opened and closed in the window within its goal: 2h to first
		// action, 20h to close.
		mk("c1", "install-failed", cxv1alpha1.CaseStatus{OpenedAt: at("2026-03-03 09:00"), FirstActionAt: at("2026-03-03 11:00"),
			DueAt: at("2026-03-04 09:00"), ClosedAt: at("2026-03-04 05:00")},
			&cxv1alpha1.Resolution{RootCause: "Documentation", CustomerRecovered: &yes}),
		// Closed late: 6h to first action, 3 days to close.
		mk("c2", "install-failed", cxv1alpha1.CaseStatus{OpenedAt: at("2026-03-02 10:00"), FirstActionAt: at("2026-03-02 16:00"),
			DueAt: at("2026-03-04 10:00"), ClosedAt: at("2026-03-05 10:00")},
			&cxv1alpha1.Resolution{RootCause: "Documentation", CustomerRecovered: &no}),
		// Opened before the window, closed in it, no goal.
		mk("c3", "install-failed", cxv1alpha1.CaseStatus{OpenedAt: at("2026-02-20 10:00"), ClosedAt: at("2026-03-06 10:00")},
			&cxv1alpha1.Resolution{RootCause: "Installer bug"}),
		// Open and overdue at the end.
		mk("c4", "install-failed", cxv1alpha1.CaseStatus{OpenedAt: at("2026-03-05 12:00"), FirstActionAt: at("2026-03-05 13:00"),
			DueAt: at("2026-03-07 12:00")}, nil),
		// Open, due after the end.
		mk("c5", "detractor-follow-up", cxv1alpha1.CaseStatus{OpenedAt: at("2026-03-08 12:00"), DueAt: at("2026-03-11 12:00")}, nil),
		// Opened after the end: not counted.
		mk("c6", "install-failed", cxv1alpha1.CaseStatus{OpenedAt: at("2026-03-09 09:00")}, nil),
	}
	// The customers and the work logged, for the return on acting (see
	// fixtureCaseTemplates).
	cases[0].Spec.Customer = &cxv1alpha1.Customer{ID: "cust-1", Tier: "Gold", Attributes: map[string]string{"annualRevenue": "12000"}}
	cases[0].Spec.Actions = spent(30*time.Minute, time.Hour)
	cases[1].Spec.Customer = &cxv1alpha1.Customer{ID: "cust-2", Tier: "Silver"}
	cases[1].Spec.Actions = spent(2 * time.Hour)
	cases[2].Spec.Customer = &cxv1alpha1.Customer{ID: "cust-3"}
	cases[3].Spec.Customer = &cxv1alpha1.Customer{ID: "cust-4", Tier: "Gold"}
	cases[4].Spec.Customer = &cxv1alpha1.Customer{ID: "cust-5", Tier: "Bronze"}
	cases[4].Spec.Source = &cxv1alpha1.CaseSource{Rule: "predicted-detractor", Prediction: &cxv1alpha1.PredictionSource{
		InteractionID: "cust-5/t-9", Target: cxv1alpha1.PredictionDetractor, Score: 0.86, Accuracy: 0.78, TrainedAt: *at("2026-03-01 03:00"),
	}}
	cases[5].Spec.Customer = &cxv1alpha1.Customer{ID: "cust-6", Tier: "Gold"}
	return cases
}

// fixtureCaseTemplates value the fixture's customers. By hand, for the
// week: at risk measured c4 (Gold, 20,000), predicted c5 (Bronze, the
// default 5,000); recovered c1 (its annualRevenue 12,000 before its Gold
// tier); cost of c1, c2, c3: 3 × 50 + 60 × (1.5 h + 2 h) = 360; net 11,640;
// c3's customer has no value.
func fixtureCaseTemplates() []cxv1alpha1.CaseTemplate {
	f := func(v float64) *float64 { return &v }
	return []cxv1alpha1.CaseTemplate{
		{ObjectMeta: metav1.ObjectMeta{Name: "install-failed", Namespace: "acme"}, Spec: cxv1alpha1.CaseTemplateSpec{
			Value: &cxv1alpha1.CaseValue{Currency: "EUR", CustomerAttribute: "annualRevenue",
				PerTier:     []cxv1alpha1.TierValue{{Tier: "Gold", Value: 20000}, {Tier: "Silver", Value: 8000}},
				CostPerCase: f(50), CostPerHour: f(60)},
		}},
		{ObjectMeta: metav1.ObjectMeta{Name: "detractor-follow-up", Namespace: "acme"}, Spec: cxv1alpha1.CaseTemplateSpec{
			Value: &cxv1alpha1.CaseValue{Currency: "EUR", PerTier: []cxv1alpha1.TierValue{{Tier: "Gold", Value: 30000}},
				DefaultValue: f(5000), CostPerCase: f(80)},
		}},
	}
}

// openFixtureStore fills a SQLite store in t's temp dir with responses.
func openFixtureStore(t testing.TB, responses []store.NewResponse) store.Store {
	t.Helper()
	return fillStore(t, store.Config{Driver: store.DriverSQLite, Path: filepath.Join(t.TempDir(), "responses.db"), Synchronous: "NORMAL"}, responses)
}

// openPostgresStore fills a fresh schema of the test PostgreSQL with
// responses, and drops the schema when the test ends. It skips without
// CXLOOP_TEST_POSTGRES_DSN.
func openPostgresStore(t *testing.T, responses []store.NewResponse) store.Store {
	t.Helper()
	dsn := os.Getenv("CXLOOP_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SKIP: set CXLOOP_TEST_POSTGRES_DSN to build the report from PostgreSQL too (make test in CI starts one)")
	}
	return fillStore(t, store.Config{Driver: store.DriverPostgres, DSN: dsn, Schema: testutil.PostgresSchema(t, dsn, "cxloop_report_test_")}, responses)
}

func fillStore(t testing.TB, cfg store.Config, responses []store.NewResponse) store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open %s store: %v", cfg.Driver, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	res, err := st.SaveResponses(ctx, responses)
	if err != nil {
		t.Fatalf("save responses: %v", err)
	}
	for i, r := range res {
		if r.Status != store.StatusStored {
			t.Fatalf("response %d: %v %v", i, r.Status, r.Err)
		}
	}
	return st
}

// source is the store as collectors would answer it.
func source(st store.Store) collector.StoreSource { return collector.StoreSource{Store: st} }
