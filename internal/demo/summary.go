package demo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/metrics"
	"github.com/cxloop/cxloop/internal/validate"
)

// Summary is what the demo did, as the closing summary prints it.
type Summary struct {
	// Simulated is the simulated time that passed.
	Simulated time.Duration
	// Speed and Seed of the run.
	Speed float64
	Seed  uint64
	// Responses stored by the collectors (GET /v1/status), and of them
	// those the replay posted through the API.
	Responses, Replayed int64
	// Invitations asked for, and the refusals by reason (NotSampled,
	// Quarantined, CapReached).
	Invitations int64
	NotInvited  map[string]int64
	// Rejected responses and invitations, with the first few errors.
	Rejected       int64
	RejectedErrors []string
	// Touchpoints with their KPIs, in the program's order.
	Touchpoints []TouchpointSummary
	// Cases in the namespace.
	Cases CaseCounts
	// Rules are the AlertRules' status, by name.
	Rules []RuleLine
	// Notifications counts the inbox's files per channel.
	Notifications map[string]int
	// InboxDir is where the notifications are.
	InboxDir string
	// ReportPath is the rendered HTML report ("" without a subscription).
	ReportPath string
	// ExampleCase names an escalated (else any) Case, for kubectl describe.
	ExampleCase string
	// WorkedInInbox counts the Cases the simulated team changed through
	// the inbox's HTTP endpoints.
	WorkedInInbox int
	// Outreach sums the collectors' invitation counts (GET /v1/status):
	// invitations and reminders sent, answered, acknowledgements of Cases.
	Outreach collectorclient.InvitationCounts
	// Customers is what the simulated customers of business events
	// received and did.
	Customers OutreachCounts
}

// RuleLine is one AlertRule's status.
type RuleLine struct {
	Name      string
	Kind      string
	Aggregate bool
	Matches   int64
	// OpensCases is whether the rule opens Cases (else it only notifies).
	OpensCases  bool
	CasesOpened int64
	// Throttled is the Throttled condition's message when it is True.
	Throttled string
	// Firing are an aggregate rule's firing groups: "group = value (n)".
	Firing []string
}

func (r RuleLine) String() string {
	if r.Aggregate {
		return fmt.Sprintf("%-20s %-11s aggregate; firing: %s", r.Name, r.Kind, orNone(strings.Join(r.Firing, ", ")))
	}
	out := fmt.Sprintf("%-20s %-11s %5d matches", r.Name, r.Kind, r.Matches)
	if r.OpensCases {
		out += fmt.Sprintf("  %4d Cases opened", r.CasesOpened)
	}
	if r.Throttled != "" {
		out += "  THROTTLED: " + r.Throttled
	}
	return out
}

// TouchpointSummary is one touchpoint's numbers from its collector.
type TouchpointSummary struct {
	Name      string
	Responses int64
	KPIs      []KPILine
}

// KPILine is one KPI of one question.
type KPILine struct {
	// Name is NPS, CSAT, CES or "yes" (the yes-rate of a YesNo question).
	Name     string
	Question string
	Value    metrics.KPI
}

func (k KPILine) String() string {
	switch k.Name {
	case "NPS":
		return fmt.Sprintf("NPS %+.1f ±%.1f (%s, n=%d)", k.Value.Value, k.Value.MarginOfError, k.Question, k.Value.N)
	case "CSAT", "yes":
		name := k.Name
		if name == "yes" {
			name = k.Question + " yes"
		}
		return fmt.Sprintf("%s %.1f%% ±%.1f (n=%d)", name, k.Value.Value, k.Value.MarginOfError, k.Value.N)
	}
	return fmt.Sprintf("%s %.2f ±%.2f (%s, n=%d)", k.Name, k.Value.Value, k.Value.MarginOfError, k.Question, k.Value.N)
}

// CaseCounts are Cases by state and severity.
type CaseCounts struct {
	Total                int
	ByState              map[string]int
	BySeverity           map[string]int
	Overdue              int
	FirstResponseOverdue int
	Escalated            int
	// EscalationSteps counts the escalation steps run over all Cases.
	EscalationSteps int
	// MergedResponses counts the responses dedup merged into open Cases
	// (their relatedResponses) instead of opening more.
	MergedResponses int
}

func countCases(cases []cxv1alpha1.Case) CaseCounts {
	c := CaseCounts{Total: len(cases), ByState: map[string]int{}, BySeverity: map[string]int{}}
	for i := range cases {
		k := &cases[i]
		state := string(k.Spec.State)
		if state == "" {
			state = string(cxv1alpha1.CaseOpen)
		}
		c.ByState[state]++
		sev := string(k.Spec.Severity)
		if sev == "" {
			sev = "unset"
		}
		c.BySeverity[sev]++
		conds := k.Status.Conditions
		if meta.IsStatusConditionTrue(conds, cxv1alpha1.ConditionOverdue) {
			c.Overdue++
		}
		if meta.IsStatusConditionTrue(conds, cxv1alpha1.ConditionFirstResponseOverdue) {
			c.FirstResponseOverdue++
		}
		if meta.IsStatusConditionTrue(conds, cxv1alpha1.ConditionEscalated) {
			c.Escalated++
		}
		c.EscalationSteps += len(k.Status.Escalations)
		c.MergedResponses += len(k.Spec.RelatedResponses)
	}
	return c
}

// gather reads the summary from the collectors, the API server and the
// inbox.
func gather(ctx context.Context, cl client.Client, namespace string, clock *Clock, collectors *Collectors, touchpoints []cxv1alpha1.SurveyTouchpoint, stats *Stats, inbox *Inbox, reportPath string) (*Summary, error) {
	s := &Summary{
		Simulated: clock.Elapsed(), Speed: clock.Speed(),
		Replayed:    stats.Responses.Load(),
		Invitations: stats.Invitations.Load(), NotInvited: stats.NotInvitedCounts(),
		Rejected: stats.Rejected.Load(), RejectedErrors: stats.Errors,
		InboxDir: inbox.Dir(), ReportPath: reportPath,
	}
	api := collectorclient.New(nil)
	now := clock.Now()
	var statuses []*collectorclient.Status
	for i := range touchpoints {
		tp := &touchpoints[i]
		ep := collectors.Endpoints()[tp.Name].Private
		st, err := api.Status(ctx, ep)
		if err != nil {
			return nil, fmt.Errorf("read the status of the collector of %s: %w", tp.Name, err)
		}
		res, err := api.Metrics(ctx, ep, collectorclient.MetricsQuery{From: now.Add(-clock.Elapsed() - 24*time.Hour), To: now.Add(time.Minute)})
		if err != nil {
			return nil, fmt.Errorf("read the metrics of the collector of %s: %w", tp.Name, err)
		}
		s.Responses += st.Total
		statuses = append(statuses, st)
		s.Touchpoints = append(s.Touchpoints, TouchpointSummary{Name: tp.Name, Responses: st.Total, KPIs: kpiLines(tp, res.Total())})
	}

	s.Outreach = outreachOf(statuses)

	var cases cxv1alpha1.CaseList
	if err := cl.List(ctx, &cases, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	s.Cases = countCases(cases.Items)
	for i := range cases.Items {
		k := &cases.Items[i]
		if s.ExampleCase == "" {
			s.ExampleCase = k.Name
		}
		if len(k.Status.Escalations) > 0 {
			s.ExampleCase = k.Name
			break
		}
	}

	var rules cxv1alpha1.AlertRuleList
	if err := cl.List(ctx, &rules, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("list alert rules: %w", err)
	}
	for _, r := range rules.Items {
		line := RuleLine{Name: r.Name, Kind: string(r.Spec.Kind), Aggregate: r.Spec.Aggregate != nil,
			Matches: r.Status.Matches, OpensCases: r.Spec.Actions.OpenCase != nil, CasesOpened: r.Status.CasesOpened}
		if c := meta.FindStatusCondition(r.Status.Conditions, cxv1alpha1.ConditionThrottled); c != nil && c.Status == metav1.ConditionTrue {
			line.Throttled = c.Message
		}
		for _, f := range r.Status.Firing {
			group := f.Group
			if group == "" {
				group = "(all)"
			}
			line.Firing = append(line.Firing, fmt.Sprintf("%s = %.1f (n=%d)", group, f.Value, f.Count))
		}
		s.Rules = append(s.Rules, line)
	}

	var err error
	if s.Notifications, err = CountFiles(inbox.Dir()); err != nil {
		return nil, fmt.Errorf("count the inbox: %w", err)
	}
	return s, nil
}

// kpiLines computes each question's KPI (validate.QuestionKPI) and the
// yes-rate of YesNo questions from a touchpoint's aggregate, with
// internal/metrics.
func kpiLines(tp *cxv1alpha1.SurveyTouchpoint, a metrics.Aggregate) []KPILine {
	var out []KPILine
	for _, q := range tp.Spec.Questions {
		qa := a.Question(q.ID)
		var k metrics.KPI
		var err error
		name := "yes"
		if q.Type == cxv1alpha1.QuestionYesNo {
			k, err = metrics.YesRate(qa)
		} else {
			kpi := validate.QuestionKPI(q)
			if kpi == "" {
				continue
			}
			name = string(kpi)
			k, err = metrics.ForKPI(name, qa)
		}
		if err != nil {
			continue // no answers
		}
		out = append(out, KPILine{Name: name, Question: q.ID, Value: k})
	}
	return out
}

// Print writes the summary for a person to read at a glance.
func (s *Summary) Print(out *printer) {
	out.Printf("\n== cxloop demo: summary after %s simulated (speed %gx) ==\n", formatElapsed(s.Simulated), s.Speed)
	refused := make([]string, 0, len(s.NotInvited))
	for _, r := range slices.Sorted(maps.Keys(s.NotInvited)) {
		refused = append(refused, fmt.Sprintf("%d %s", s.NotInvited[r], r))
	}
	out.Printf("Responses:      %d stored (%d replayed through the API, %d invitations asked; not invited: %s; %d rejected; %d answered through the survey page)\n",
		s.Responses, s.Replayed, s.Invitations, orNone(strings.Join(refused, ", ")), s.Rejected, s.Outreach.Answered)
	for _, e := range s.RejectedErrors {
		out.Printf("  rejected: %s\n", e)
	}
	for _, tp := range s.Touchpoints {
		kpis := make([]string, 0, len(tp.KPIs))
		for _, k := range tp.KPIs {
			kpis = append(kpis, k.String())
		}
		out.Printf("  %-20s %6d responses  %s\n", tp.Name, tp.Responses, strings.Join(kpis, "  "))
	}
	o, cu := s.Outreach, s.Customers
	out.Printf("Invitations:    %d sent, %d reminded, %d answered through the survey page, %d acknowledgements, %d follow-ups after closing (%d waiting for their Case to close) (collectors' status)\n",
		o.Sent-o.Reminded, o.Reminded, o.Answered, o.Acknowledged, o.FollowUpsSent, o.FollowUpsWaiting)
	out.Printf("  customers of %d business events received %d emails and %d SMS (%d invitations, %d reminders, %d acknowledgements, %d follow-ups); %d answered the page, %d unsubscribed\n",
		cu.Events, cu.Emails, cu.SMS, cu.Invitations, cu.Reminders, cu.Acknowledgements, cu.FollowUps, cu.Answered, cu.Unsubscribed)
	if o.Failed > 0 || cu.Failed > 0 || cu.Copies > 0 {
		out.Printf("  %d messages failed to send; %d customer requests failed; %d emails received again (same Message-ID)\n", o.Failed, cu.Failed, cu.Copies)
	}
	for _, e := range cu.Errors {
		out.Printf("  customer request failed: %s\n", e)
	}
	c := s.Cases
	out.Printf("Cases:          %d  by state: %s  by severity: %s\n", c.Total, counts(c.ByState), counts(c.BySeverity))
	out.Printf("  overdue %d, first response overdue %d, escalated %d (%d escalation steps run)\n",
		c.Overdue, c.FirstResponseOverdue, c.Escalated, c.EscalationSteps)
	out.Printf("  worked through the inbox: %d\n", s.WorkedInInbox)
	out.Printf("  responses merged into open Cases by dedup: %d\n", c.MergedResponses)
	out.Printf("Rules:\n")
	for _, r := range s.Rules {
		out.Printf("  %s\n", r)
	}
	total := 0
	for _, n := range s.Notifications {
		total += n
	}
	out.Printf("Notifications:  %d in %s\n", total, s.InboxDir)
	for _, ch := range slices.Sorted(maps.Keys(s.Notifications)) {
		out.Printf("  %-28s %5d\n", ch, s.Notifications[ch])
	}
	if s.ReportPath != "" {
		out.Printf("Report:         %s\n", s.ReportPath)
	} else {
		out.Printf("Report:         none (the namespace has no ReportSubscription)\n")
	}
}

func counts(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return orNone(strings.Join(parts, ", "))
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
