package report_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/report"
)

// The fixture's Cases, counted by hand (see fixtureCases).
func TestCaseStatistics(t *testing.T) {
	w := report.Window{From: fixtureEnd.AddDate(0, 0, -7), To: fixtureEnd}
	st, n := report.CaseStatistics(fixtureCases(), nil, w)
	if n != 6 {
		t.Errorf("considered %d Cases, want 6", n)
	}
	// Opened in the window: c1, c2, c4, c5 (c3 before, c6 after). Closed:
	// c1, c2, c3. Open at the end: c4, c5; overdue: c4.
	if st.Opened != 4 || st.Closed != 3 || st.OpenNow != 2 || st.Overdue != 1 {
		t.Errorf("opened %d closed %d open %d overdue %d, want 4 3 2 1", st.Opened, st.Closed, st.OpenNow, st.Overdue)
	}
	// c1 closed before its due time, c2 after; c3 had no goal.
	if st.ClosedWithinGoal != 1 || st.ClosedWithGoal != 2 || st.ClosedWithinGoalPercent == nil || *st.ClosedWithinGoalPercent != 50 {
		t.Errorf("within goal %d of %d (%v), want 1 of 2 (50%%)", st.ClosedWithinGoal, st.ClosedWithGoal, st.ClosedWithinGoalPercent)
	}
	// First actions after 2h (c1), 6h (c2), 1h (c4): median 2h.
	if st.MedianTimeToFirstAction == nil || st.MedianTimeToFirstAction.Duration != 2*time.Hour || st.FirstActions != 3 {
		t.Errorf("median time to first action %v over %d, want 2h over 3", st.MedianTimeToFirstAction, st.FirstActions)
	}
	// Closed after 20h (c1), 3 days (c2), 14 days (c3): median 3 days.
	if st.MedianTimeToClose == nil || st.MedianTimeToClose.Duration != 72*time.Hour {
		t.Errorf("median time to close %v, want 72h", st.MedianTimeToClose)
	}
	if len(st.RootCauses) != 2 || st.RootCauses[0] != (report.Count{Name: "Documentation", Count: 2}) || st.RootCauses[1] != (report.Count{Name: "Installer bug", Count: 1}) {
		t.Errorf("root causes %+v, want Documentation 2, Installer bug 1", st.RootCauses)
	}
	if st.Recovered != 1 || st.RecoveryKnown != 2 {
		t.Errorf("recovered %d of %d, want 1 of 2", st.Recovered, st.RecoveryKnown)
	}

	// Only the follow-up template: c5, opened and open.
	st, n = report.CaseStatistics(fixtureCases(), []string{"detractor-follow-up"}, w)
	if n != 1 || st.Opened != 1 || st.OpenNow != 1 || st.Closed != 0 || st.Overdue != 0 || st.MedianTimeToClose != nil {
		t.Errorf("follow-up template: %d considered, %+v; want 1 opened and open, nothing closed", n, st)
	}
}

func TestMedianDuration(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
		ok   bool
	}{
		{nil, 0, false},
		{[]time.Duration{5 * time.Minute}, 5 * time.Minute, true},
		{[]time.Duration{3 * time.Hour, time.Hour}, 2 * time.Hour, true},
		{[]time.Duration{9, 1, 5}, 5, true},
		{[]time.Duration{1, 2}, 1, true}, // 1.5ns rounds down
		{[]time.Duration{1<<62 + 1, 1<<62 + 3}, 1<<62 + 2, true},
	} {
		in := append([]time.Duration(nil), tc.in...)
		got, ok := report.MedianDuration(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("MedianDuration(%v) = %v, %v; want %v, %v", in, got, ok, tc.want, tc.ok)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Errorf("MedianDuration reordered its input")
			}
		}
	}
}

// The return on acting of the fixture, by hand (see fixtureCaseTemplates).
func TestReturnOnActing(t *testing.T) {
	w := report.Window{From: fixtureEnd.AddDate(0, 0, -7), To: fixtureEnd}
	got := report.ReturnOnActing(fixtureCases(), fixtureCaseTemplates(), nil, w)
	want := []report.CaseReturn{{
		Currency:       "EUR",
		AtRiskMeasured: 20000, AtRiskMeasuredCustomers: 1,
		AtRiskPredicted: 5000, AtRiskPredictedCustomers: 1,
		Recovered: 12000, RecoveredCustomers: 1,
		Cost: 360, ClosedCases: 3, HoursSpent: 3.5,
		NetReturn: 11640,
		Unvalued:  1,
	}}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("return\n got %+v\nwant %+v", got, want)
	}
	// Only the follow-up template: c5 at risk (predicted), nothing closed.
	got = report.ReturnOnActing(fixtureCases(), fixtureCaseTemplates(), []string{"detractor-follow-up"}, w)
	if len(got) != 1 || got[0] != (report.CaseReturn{Currency: "EUR", AtRiskPredicted: 5000, AtRiskPredictedCustomers: 1}) {
		t.Errorf("follow-up template: %+v", got)
	}
	// Without template values there is nothing to value.
	if got := report.ReturnOnActing(fixtureCases(), nil, nil, w); len(got) != 0 {
		t.Errorf("no values: %+v", got)
	}
}

// A customer counts once per figure, a measured Case wins over a predicted
// one, and currencies are kept apart.
func TestReturnOnActingCountsEachCustomerOnce(t *testing.T) {
	w := report.Window{From: fixtureEnd.AddDate(0, 0, -7), To: fixtureEnd}
	opened := metav1.NewTime(fixtureEnd.Add(-48 * time.Hour))
	closed := metav1.NewTime(fixtureEnd.Add(-time.Hour))
	yes := true
	c := func(name, template, customer string, predicted bool, closedAt *metav1.Time) cxv1alpha1.Case {
		cs := cxv1alpha1.Case{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       cxv1alpha1.CaseSpec{Template: template, Customer: &cxv1alpha1.Customer{ID: customer, Tier: "Gold"}},
			Status:     cxv1alpha1.CaseStatus{OpenedAt: &opened, ClosedAt: closedAt},
		}
		if predicted {
			cs.Spec.Source = &cxv1alpha1.CaseSource{Prediction: &cxv1alpha1.PredictionSource{InteractionID: "i", Target: cxv1alpha1.PredictionDetractor}}
		}
		if closedAt != nil {
			cs.Spec.Resolution = &cxv1alpha1.Resolution{CustomerRecovered: &yes}
		}
		return cs
	}
	tpl := func(name, currency string) cxv1alpha1.CaseTemplate {
		return cxv1alpha1.CaseTemplate{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: cxv1alpha1.CaseTemplateSpec{
			Value: &cxv1alpha1.CaseValue{Currency: currency, PerTier: []cxv1alpha1.TierValue{{Tier: "Gold", Value: 1000}}}}}
	}
	got := report.ReturnOnActing([]cxv1alpha1.Case{
		c("a1", "eu", "a", false, nil), c("a2", "eu", "a", false, nil), // twice at risk: once
		c("a3", "eu", "a", true, nil),                                          // also predicted: measured wins
		c("b1", "eu", "b", true, nil),                                          // predicted only
		c("b2", "eu", "b", false, &closed), c("b3", "eu", "b", false, &closed), // recovered twice: once
		c("u1", "us", "a", false, nil), // same customer, other currency
	}, []cxv1alpha1.CaseTemplate{tpl("eu", "EUR"), tpl("us", "USD")}, nil, w)
	want := []report.CaseReturn{
		{Currency: "EUR", AtRiskMeasured: 1000, AtRiskMeasuredCustomers: 1, AtRiskPredicted: 1000, AtRiskPredictedCustomers: 1,
			Recovered: 1000, RecoveredCustomers: 1, ClosedCases: 2, NetReturn: 1000},
		{Currency: "USD", AtRiskMeasured: 1000, AtRiskMeasuredCustomers: 1},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("return\n got %+v\nwant %+v", got, want)
	}
}
