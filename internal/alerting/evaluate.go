package alerting

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/rules"
)

// DefaultEvery is how often an aggregate rule is evaluated without
// spec.aggregate.every (the CRD defaults it to the same value).
const DefaultEvery = 5 * time.Minute

// maxConditionMessage keeps the Firing message readable and well under the
// API's 32 KiB limit.
const maxConditionMessage = 4000

// sharedAggregateEnv is the CEL environment of aggregate conditions, built
// once.
var sharedAggregateEnv = sync.OnceValues(func() (*rules.AggregateEnv, error) { return rules.NewAggregateEnv() })

// Every is the evaluation period of an aggregate rule.
func Every(agg *cxv1alpha1.AggregateCondition) time.Duration {
	if agg.Every != nil && agg.Every.Duration > 0 {
		return agg.Every.Duration
	}
	return DefaultEvery
}

// Due reports whether an aggregate rule must be evaluated at now: never
// evaluated, spec changed since the last reconciliation, or its period
// elapsed since the last evaluation. Reconciliations for other reasons (a
// Case created, a touchpoint edited, a restart) do not move the schedule.
func Due(rule *cxv1alpha1.AlertRule, now time.Time) bool {
	agg := rule.Spec.Aggregate
	last := rule.Status.LastEvaluationTime
	if agg == nil {
		return false
	}
	return last == nil || rule.Status.ObservedGeneration != rule.Generation || !now.Before(last.Add(Every(agg)))
}

// Next is how long after now the rule's next evaluation is due (at least a
// second).
func Next(rule *cxv1alpha1.AlertRule, now time.Time) time.Duration {
	last := rule.Status.LastEvaluationTime
	if last == nil {
		return Every(rule.Spec.Aggregate)
	}
	if d := last.Add(Every(rule.Spec.Aggregate)).Sub(now); d > 0 {
		return d
	}
	return time.Second
}

// Transition is a group that began (Resolved false) or stopped firing in
// an evaluation.
type Transition struct {
	Group    cxv1alpha1.FiringGroup
	Resolved bool
}

// Input is what one evaluation reads.
type Input struct {
	// Current is [Now-window, Now), Previous the window before it.
	Current, Previous Window
	// Unreachable names the touchpoints whose collectors could not be
	// read, with the error ("touchpoint web: connection refused"). When
	// it is not empty the evaluation is skipped: nothing fires or resolves
	// on missing data.
	Unreachable []string
	Now         time.Time
}

// outcome is what one evaluation found, for the Firing condition.
type outcome struct {
	unreachable []string
	// evalErrors are CEL runtime errors, per group.
	evalErrors []string
	// skipped are groups below minResponses: "group (n)".
	skipped []string
	// evaluated counts the groups whose condition was evaluated.
	evaluated int
	// summary is the last value of an ungrouped rule, for the message.
	summary string
}

// Evaluate runs one evaluation of an aggregate rule (spec.aggregate set):
// it records status.lastEvaluationTime, updates status.firing (see
// decide) and sets the Firing condition, and returns the groups that
// began or stopped firing. What they owe (Message, StrategicCase) is the
// caller's to record and perform.
func Evaluate(rule *cxv1alpha1.AlertRule, in Input) []Transition {
	rule.Status.LastEvaluationTime = &metav1.Time{Time: in.Now}
	out := outcome{unreachable: in.Unreachable}
	var trs []Transition
	if len(in.Unreachable) == 0 {
		trs = decide(rule, in.Current, in.Previous, in.Now, &out)
	}
	setFiringCondition(rule, out)
	return trs
}

// decide evaluates the condition for every group of the current window
// (and every group already firing) and updates status.firing:
//   - a breached group not yet firing starts firing, since now;
//   - a firing group still breached gets its latest value, previous, count;
//   - a firing group evaluated and no longer breached stops firing;
//   - a group below minResponses is not evaluated: it neither starts nor
//     stops firing.
//
// With groupBy, responses without the group's value (group "") are not
// evaluated as a group of their own. Entries left from before groupBy was
// added, removed or changed resolve: a firing group remembers the groupBy
// it was found under (entries from before that was recorded are taken to
// be of the current groupBy).
func decide(rule *cxv1alpha1.AlertRule, cur, prev Window, now time.Time, out *outcome) []Transition {
	agg := rule.Spec.Aggregate
	env, err := sharedAggregateEnv()
	if err != nil {
		out.evalErrors = append(out.evalErrors, err.Error())
		return nil
	}
	prog, err := env.Compile(agg.Condition)
	if err != nil {
		// Validation reports it as Ready=False; not reached for a ready rule.
		out.evalErrors = append(out.evalErrors, "spec.aggregate.condition: "+err.Error())
		return nil
	}

	var trs []Transition
	firing := map[string]cxv1alpha1.FiringGroup{}
	for _, f := range rule.Status.Firing {
		if (f.Group == "") != (agg.GroupBy == "") || f.GroupBy != "" && f.GroupBy != agg.GroupBy {
			// groupBy was added, removed or changed: the old entry no
			// longer names anything this rule evaluates.
			trs = append(trs, Transition{Group: f, Resolved: true})
			continue
		}
		firing[f.Group] = f
	}
	groups := []string{""}
	if agg.GroupBy != "" {
		groups = unionGroups(cur.Groups(), firing)
	}
	for _, g := range groups {
		m, err := Measure(agg, cur, g)
		if err != nil {
			out.evalErrors = append(out.evalErrors, GroupLabel(agg, g)+": "+err.Error())
			continue
		}
		if !m.Enough(agg.Metric, agg.MinResponses) {
			out.skipped = append(out.skipped, fmt.Sprintf("%s (%d)", groupOrAll(g), m.Count))
			continue
		}
		in := rules.AggregateInput{Value: m.Value, Count: m.Count, Group: g}
		if p, err := Measure(agg, prev, g); err == nil && p.Enough(agg.Metric, agg.MinResponses) {
			in.Previous = &p.Value
		}
		breached, err := prog.Eval(in)
		if err != nil {
			out.evalErrors = append(out.evalErrors, GroupLabel(agg, g)+": "+err.Error())
			continue
		}
		out.evaluated++
		if agg.GroupBy == "" {
			out.summary = fmt.Sprintf("%s over %s is %s (%d responses)", agg.Metric, ShortDuration(agg.Window.Duration), FormatValue(agg.Metric, m.Value), m.Count)
		}
		f, wasFiring := firing[g]
		switch {
		case breached && wasFiring:
			f.Value, f.Previous, f.Count = m.Value, in.Previous, m.Count
			firing[g] = f
		case breached:
			f = cxv1alpha1.FiringGroup{Group: g, GroupBy: agg.GroupBy, Since: metav1.Time{Time: now.Truncate(time.Second)}, Value: m.Value, Previous: in.Previous, Count: m.Count}
			firing[g] = f
			trs = append(trs, Transition{Group: f})
		case wasFiring:
			delete(firing, g)
			f.Value, f.Previous, f.Count = m.Value, in.Previous, m.Count
			trs = append(trs, Transition{Group: f, Resolved: true})
		}
	}
	rule.Status.Firing = sortedFiring(firing)
	return trs
}

func unionGroups(groups []string, firing map[string]cxv1alpha1.FiringGroup) []string {
	seen := map[string]bool{}
	var out []string
	add := func(g string) {
		if g != "" && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	for _, g := range groups {
		add(g)
	}
	for g := range firing {
		add(g)
	}
	sort.Strings(out)
	return out
}

func sortedFiring(m map[string]cxv1alpha1.FiringGroup) []cxv1alpha1.FiringGroup {
	if len(m) == 0 {
		return nil
	}
	out := make([]cxv1alpha1.FiringGroup, 0, len(m))
	for _, f := range m {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// setFiringCondition summarises an evaluation in the Firing condition.
func setFiringCondition(rule *cxv1alpha1.AlertRule, out outcome) {
	agg := rule.Spec.Aggregate
	status := metav1.ConditionFalse
	if len(rule.Status.Firing) > 0 {
		status = metav1.ConditionTrue
	}
	var reason string
	var lines []string
	switch {
	case len(out.unreachable) > 0:
		reason = cxv1alpha1.ReasonCollectorUnreachable
		if status == metav1.ConditionFalse {
			status = metav1.ConditionUnknown
		}
		lines = append(lines, fmt.Sprintf("not evaluated: could not read %d collector(s); retrying in %s (nothing fires or resolves on missing data): %s",
			len(out.unreachable), ShortDuration(Every(agg)), strings.Join(out.unreachable, "; ")))
	case len(out.evalErrors) > 0 && out.evaluated == 0:
		reason = cxv1alpha1.ReasonEvaluationFailed
	case status == metav1.ConditionTrue:
		reason = cxv1alpha1.ReasonBreached
	case out.evaluated == 0:
		reason = cxv1alpha1.ReasonInsufficientResponses
	default:
		reason = cxv1alpha1.ReasonNotBreached
	}
	if len(rule.Status.Firing) > 0 {
		fs := make([]string, 0, len(rule.Status.Firing))
		for _, f := range rule.Status.Firing {
			fs = append(fs, fmt.Sprintf("%s: %s %s since %s", groupOrAll(f.Group), agg.Metric, FormatValue(agg.Metric, f.Value), f.Since.UTC().Format(time.RFC3339)))
		}
		lines = append(lines, "firing for "+strings.Join(fs, ", "))
	}
	if out.summary != "" && len(rule.Status.Firing) == 0 {
		lines = append(lines, out.summary)
	}
	if agg.GroupBy != "" && len(out.unreachable) == 0 {
		lines = append(lines, fmt.Sprintf("%d group(s) of %s evaluated", out.evaluated, agg.GroupBy))
	}
	if len(out.skipped) > 0 {
		lines = append(lines, fmt.Sprintf("not evaluated, below minResponses (%d): %s", agg.MinResponses, strings.Join(out.skipped, ", ")))
	}
	if len(out.evalErrors) > 0 {
		lines = append(lines, "evaluation errors: "+strings.Join(out.evalErrors, "; "))
	}
	apimeta.SetStatusCondition(&rule.Status.Conditions, metav1.Condition{
		Type: cxv1alpha1.ConditionFiring, Status: status, Reason: reason,
		Message:            truncate(strings.Join(lines, "; "), maxConditionMessage),
		ObservedGeneration: rule.Generation,
	})
}

// GroupLabel names a group for people: "metadata.store=north", or "all
// responses" without groupBy.
func GroupLabel(agg *cxv1alpha1.AggregateCondition, group string) string {
	if agg.GroupBy == "" {
		return "all responses"
	}
	return agg.GroupBy + "=" + group
}

func groupOrAll(group string) string {
	if group == "" {
		return "all responses"
	}
	return group
}

// FormatValue prints a metric in its unit's usual precision.
func FormatValue(m cxv1alpha1.AggregateMetric, v float64) string {
	switch m {
	case cxv1alpha1.AggregateResponseCount:
		return fmt.Sprintf("%.0f", v)
	case cxv1alpha1.AggregateSentiment, cxv1alpha1.AggregateCES:
		return fmt.Sprintf("%.2f", v)
	case cxv1alpha1.AggregateCSAT:
		return fmt.Sprintf("%.1f%%", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// ShortDuration prints 24h rather than 24h0m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-len(" …")] + " …"
}
