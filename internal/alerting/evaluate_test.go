package alerting

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
	"github.com/cxloop/cxloop/internal/store"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

var relationship = cxv1alpha1.SurveyTouchpoint{
	ObjectMeta: metav1.ObjectMeta{Name: "relationship"},
	Spec:       cxv1alpha1.SurveyTouchpointSpec{Questions: []cxv1alpha1.Question{{ID: "nps", Type: cxv1alpha1.QuestionNPS}}},
}

// npsGroup is a group of n answers: promoters scoring 10, the rest 0.
func npsGroup(n, promoters int) metrics.Aggregate {
	var q metrics.QuestionAggregate
	for i := range n {
		if i < promoters {
			q.AddNPS(10)
		} else {
			q.AddNPS(0)
		}
	}
	var a metrics.Aggregate
	a.Responses = int64(n)
	a.AddQuestion("nps", q)
	return a
}

// window is one touchpoint's groups: group -> {n, promoters}.
func window(groups map[string][2]int) Window {
	res := &store.AggregateResult{Groups: map[string]metrics.Aggregate{}}
	for g, np := range groups {
		res.Groups[g] = npsGroup(np[0], np[1])
	}
	return Window{Touchpoints: []cxv1alpha1.SurveyTouchpoint{relationship}, Results: []*store.AggregateResult{res}}
}

func npsRule(groupBy string) *cxv1alpha1.AlertRule {
	return &cxv1alpha1.AlertRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "nps-low", UID: "rule-uid", Generation: 1},
		Spec: cxv1alpha1.AlertRuleSpec{Aggregate: &cxv1alpha1.AggregateCondition{
			Metric: cxv1alpha1.AggregateNPS, Window: cxv1alpha1.Duration{Duration: 24 * time.Hour}, Condition: "value < 30.0",
			MinResponses: 10, GroupBy: groupBy,
		}},
	}
}

type evaluation struct {
	at          time.Duration
	groupBy     *string // change spec.aggregate.groupBy before this evaluation
	cur         map[string][2]int
	unreachable bool
	// wantFired and wantResolved are the groups of the transitions.
	wantFired, wantResolved []string
	wantFiring              []string // status.firing after
	wantStatus              metav1.ConditionStatus
	wantReason              string
	wantMessage             string
}

func TestEvaluate(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		name    string
		groupBy string
		evals   []evaluation
	}{
		{name: "fires once, stays, resolves once", evals: []evaluation{
			{cur: map[string][2]int{"": {20, 2}}, wantFired: []string{""}, wantFiring: []string{""}, wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonBreached,
				wantMessage: "firing for all responses: NPS -80.0 since 2026-03-02T09:00:00Z"},
			{at: 5 * time.Minute, cur: map[string][2]int{"": {20, 4}}, wantFiring: []string{""}, wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonBreached},
			{at: 10 * time.Minute, cur: map[string][2]int{"": {20, 16}}, wantResolved: []string{""}, wantStatus: metav1.ConditionFalse, wantReason: cxv1alpha1.ReasonNotBreached,
				wantMessage: "NPS over 24h is 60.0 (20 responses)"},
		}},
		{name: "below minResponses neither fires nor resolves", evals: []evaluation{
			{cur: map[string][2]int{"": {9, 0}}, wantStatus: metav1.ConditionFalse, wantReason: cxv1alpha1.ReasonInsufficientResponses,
				wantMessage: "not evaluated, below minResponses (10): all responses (9)"},
			{at: 5 * time.Minute, cur: map[string][2]int{"": {10, 0}}, wantFired: []string{""}, wantFiring: []string{""}, wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonBreached},
			{at: 10 * time.Minute, cur: map[string][2]int{"": {3, 3}}, wantFiring: []string{""}, wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonBreached},
		}},
		{name: "per group", groupBy: "metadata.store", evals: []evaluation{
			{cur: map[string][2]int{"north": {10, 0}, "south": {10, 10}, "": {50, 0}}, wantFired: []string{"north"}, wantFiring: []string{"north"},
				wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonBreached, wantMessage: "2 group(s) of metadata.store evaluated"},
			{at: 5 * time.Minute, cur: map[string][2]int{"north": {10, 0}, "south": {10, 0}}, wantFired: []string{"south"}, wantFiring: []string{"north", "south"},
				wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonBreached},
			// north has no responses in the window: not evaluated, still firing.
			{at: 10 * time.Minute, cur: map[string][2]int{"south": {10, 10}}, wantResolved: []string{"south"}, wantFiring: []string{"north"},
				wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonBreached, wantMessage: "below minResponses (10): north (0)"},
		}},
		{name: "a changed groupBy resolves the old groups", groupBy: "metadata.store", evals: []evaluation{
			{cur: map[string][2]int{"north": {10, 0}}, wantFired: []string{"north"}, wantFiring: []string{"north"}, wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonBreached},
			{at: 5 * time.Minute, groupBy: str("metadata.region"), cur: map[string][2]int{"north": {10, 10}, "emea": {10, 0}},
				wantFired: []string{"emea"}, wantResolved: []string{"north"}, wantFiring: []string{"emea"}, wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonBreached},
			{at: 10 * time.Minute, groupBy: str(""), cur: map[string][2]int{"": {20, 20}}, wantResolved: []string{"emea"},
				wantStatus: metav1.ConditionFalse, wantReason: cxv1alpha1.ReasonNotBreached},
		}},
		{name: "an unreachable collector changes nothing", evals: []evaluation{
			{unreachable: true, wantStatus: metav1.ConditionUnknown, wantReason: cxv1alpha1.ReasonCollectorUnreachable,
				wantMessage: "not evaluated: could not read 1 collector(s); retrying in 5m (nothing fires or resolves on missing data): touchpoint relationship: connection refused"},
			{at: 5 * time.Minute, cur: map[string][2]int{"": {20, 0}}, wantFired: []string{""}, wantFiring: []string{""}, wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonBreached},
			{at: 10 * time.Minute, unreachable: true, wantFiring: []string{""}, wantStatus: metav1.ConditionTrue, wantReason: cxv1alpha1.ReasonCollectorUnreachable},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rule := npsRule(tt.groupBy)
			for i, e := range tt.evals {
				if e.groupBy != nil {
					rule.Spec.Aggregate.GroupBy = *e.groupBy
					rule.Generation++
				}
				now := t0.Add(e.at)
				if !Due(rule, now) {
					t.Fatalf("evaluation %d: not due at +%s", i, e.at)
				}
				in := Input{Current: window(e.cur), Previous: window(nil), Now: now}
				if e.unreachable {
					in = Input{Unreachable: []string{"touchpoint relationship: connection refused"}, Now: now}
				}
				trs := Evaluate(rule, in)
				rule.Status.ObservedGeneration = rule.Generation
				var fired, resolved []string
				for _, tr := range trs {
					if tr.Resolved {
						resolved = append(resolved, tr.Group.Group)
					} else {
						fired = append(fired, tr.Group.Group)
					}
				}
				slices.Sort(fired)
				var firing []string
				for _, f := range rule.Status.Firing {
					firing = append(firing, f.Group)
				}
				if !slices.Equal(fired, e.wantFired) || !slices.Equal(resolved, e.wantResolved) || !slices.Equal(firing, e.wantFiring) {
					t.Fatalf("evaluation %d: fired %q resolved %q firing %q; want %q %q %q", i, fired, resolved, firing, e.wantFired, e.wantResolved, e.wantFiring)
				}
				c := apimeta.FindStatusCondition(rule.Status.Conditions, cxv1alpha1.ConditionFiring)
				if c == nil || c.Status != e.wantStatus || c.Reason != e.wantReason || !strings.Contains(c.Message, e.wantMessage) {
					t.Fatalf("evaluation %d: Firing = %+v; want %s/%s with %q", i, c, e.wantStatus, e.wantReason, e.wantMessage)
				}
				if !rule.Status.LastEvaluationTime.Time.Equal(now) {
					t.Errorf("evaluation %d: lastEvaluationTime %s, want %s", i, rule.Status.LastEvaluationTime, now)
				}
				if Due(rule, now.Add(4*time.Minute)) || Next(rule, now) != DefaultEvery {
					t.Errorf("evaluation %d: due again before the period, or next in %s", i, Next(rule, now))
				}
			}
		})
	}
}

func TestPreviousWindowAndDelta(t *testing.T) {
	rule := npsRule("")
	rule.Spec.Aggregate.Condition = "delta < -10.0"
	trs := Evaluate(rule, Input{Current: window(map[string][2]int{"": {10, 5}}), Previous: window(map[string][2]int{"": {10, 8}}), Now: t0})
	if len(trs) != 1 || trs[0].Group.Previous == nil || math.Abs(*trs[0].Group.Previous-60) > 1e-9 || trs[0].Group.Value != 0 {
		t.Fatalf("transitions %+v, want one firing at 0.0 with previous 60.0", trs)
	}
	// A previous window below minResponses counts as none: delta is 0.
	rule = npsRule("")
	rule.Spec.Aggregate.Condition = "delta < -10.0"
	if trs := Evaluate(rule, Input{Current: window(map[string][2]int{"": {10, 5}}), Previous: window(map[string][2]int{"": {9, 9}}), Now: t0}); len(trs) != 0 {
		t.Fatalf("fired on a previous window of 9 responses: %+v", trs)
	}
}

func TestEvaluationError(t *testing.T) {
	rule := npsRule("")
	rule.Spec.Aggregate.Condition = "value <"
	Evaluate(rule, Input{Current: window(map[string][2]int{"": {10, 0}}), Now: t0})
	c := apimeta.FindStatusCondition(rule.Status.Conditions, cxv1alpha1.ConditionFiring)
	if c == nil || c.Reason != cxv1alpha1.ReasonEvaluationFailed || !strings.Contains(c.Message, "spec.aggregate.condition") {
		t.Fatalf("Firing = %+v, want EvaluationFailed naming spec.aggregate.condition", c)
	}
}

func TestKeysMessagesAndCases(t *testing.T) {
	rule := npsRule("metadata.store")
	rule.Spec.Actions.OpenCase = &cxv1alpha1.OpenCaseAction{Template: "cross-functional"}
	prev := 48.0
	f := cxv1alpha1.FiringGroup{Group: "north", Since: metav1.NewTime(t0), Value: 12.5, Previous: &prev, Count: 40}
	fire, resolve := Transition{Group: f}, Transition{Group: f, Resolved: true}
	if got, want := Key(rule, fire), "aggregate/rule-uid/north/2026-03-02T09:00:00Z"; got != want {
		t.Errorf("Key = %q, want %q", got, want)
	}
	if Key(rule, resolve) != Key(rule, fire)+"/resolved" {
		t.Errorf("resolve key %q", Key(rule, resolve))
	}
	m := Message(rule, fire, t0)
	if m.Event != EventFiring || m.Severity != "High" || m.Title != "NPS 12.5 over 24h for metadata.store=north (previous 48.0) (rule nps-low)" {
		t.Errorf("firing message %q %q %q", m.Event, m.Severity, m.Title)
	}
	m = Message(rule, resolve, t0.Add(time.Hour))
	if m.Event != EventResolved || m.Severity != "" || !strings.Contains(m.Text, "resolved at 2026-03-02T10:00:00Z") {
		t.Errorf("resolved message %q %q %q", m.Event, m.Severity, m.Text)
	}
	c := StrategicCase(rule, f)
	if c.Name != StrategicCaseName("nps-low", "north", t0) || c.Name != StrategicCase(rule, f).Name || !strings.HasPrefix(c.Name, "nps-low-") {
		t.Errorf("case name %q is not deterministic", c.Name)
	}
	if c.Spec.Customer != nil || c.Spec.Template != "cross-functional" || c.Labels[cxv1alpha1.LabelRule] != "nps-low" ||
		c.Spec.Title != "nps-low: NPS 12.5 over 24h for metadata.store=north (previous 48.0)" {
		t.Errorf("strategic case %+v", c)
	}
	if StrategicCaseName("nps-low", "south", t0) == c.Name || StrategicCaseName("nps-low", "north", t0.Add(time.Second)) == c.Name {
		t.Error("another group or breach has the same Case name")
	}
}

func TestEffectsAreRecordedOncePerKey(t *testing.T) {
	rule := npsRule("metadata.store")
	rule.Spec.Actions.Notify = []cxv1alpha1.NotifyAction{{Channel: "ops"}, {Channel: "email"}}
	rule.Spec.Actions.OpenCase = &cxv1alpha1.OpenCaseAction{Template: "cross-functional"}
	f := cxv1alpha1.FiringGroup{Group: "north", Since: metav1.NewTime(t0), Value: 1, Count: 10}
	effs := Effects(rule, []Transition{{Group: f}, {Group: f, Resolved: true}}, t0)
	var keys []string
	for _, e := range effs {
		keys = append(keys, e.Key)
	}
	caseName := StrategicCaseName("nps-low", "north", t0)
	want := []string{
		"aggregate/rule-uid/north/2026-03-02T09:00:00Z@ops", "aggregate/rule-uid/north/2026-03-02T09:00:00Z@email", "case/" + caseName,
		"aggregate/rule-uid/north/2026-03-02T09:00:00Z/resolved@ops", "aggregate/rule-uid/north/2026-03-02T09:00:00Z/resolved@email",
	}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %q, want %q", keys, want)
	}
	if effs[2].Case != caseName || effs[0].Channel != "ops" || TransitionOf(effs[3]).Resolved != true {
		t.Errorf("effects %+v", effs)
	}
	if dropped := Record(rule, effs, 4); len(dropped) != 1 || dropped[0].Key != want[0] {
		t.Errorf("dropped %+v, want the oldest", dropped)
	}
	Record(rule, effs[1:], 4)
	if len(rule.Status.PendingEffects) != 4 {
		t.Errorf("recording the same effects again: %d pending, want 4", len(rule.Status.PendingEffects))
	}
}
