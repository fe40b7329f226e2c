package programtest

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/report"
)

// compare lists every difference between what happened and expect.
func compare(ctx context.Context, s *sim, expect Expect) []string {
	fails := compareCases(s, expect)
	outcomes := s.outcomes()
	for what, want := range map[string]*int{"merged": expect.Merged, "throttled": expect.Throttled} {
		if want != nil && *want != outcomes[what] {
			fails = append(fails, fmt.Sprintf("%s matches: want %d, got %d", what, *want, outcomes[what]))
		}
	}
	if expect.Notifications != nil { // not checked when the test lists none (notifications: [] requires none)
		fails = append(fails, compareNotifications(s, expect.Notifications)...)
	}
	if expect.Firings != nil {
		fails = append(fails, compareFirings(s, expect.Firings)...)
	}
	for _, r := range expect.Reports {
		fails = append(fails, compareReport(ctx, s, r)...)
	}
	return fails
}

func compareCases(s *sim, ex Expect) []string {
	expect := ex.Cases
	var fails []string
	got := map[string]*simCase{}
	for _, sc := range s.cases {
		if sc.response != "" { // strategic Cases are checked with firings
			got[sc.response] = sc
		}
	}
	for _, e := range expect {
		sc := got[e.Response]
		if sc == nil {
			fails = append(fails, fmt.Sprintf("want a Case opened by response %s, got none", e.Response))
			continue
		}
		delete(got, e.Response)
		c := sc.c
		check := func(field, want, have string) {
			if want != "" && want != have {
				fails = append(fails, fmt.Sprintf("Case of response %s: %s: want %s, got %s", e.Response, field, want, have))
			}
		}
		check("rule", e.Rule, c.Spec.Source.Rule)
		check("template", e.Template, c.Spec.Template)
		check("severity", e.Severity, string(c.Spec.Severity))
		check("assignee", e.Assignee, c.Spec.Assignee)
		if e.DueAt != "" {
			have := "none"
			if c.Status.DueAt != nil {
				have = c.Status.DueAt.UTC().Format(time.RFC3339)
			}
			if want, err := time.Parse(time.RFC3339, e.DueAt); err != nil || c.Status.DueAt == nil || !want.Equal(c.Status.DueAt.Time) {
				fails = append(fails, fmt.Sprintf("Case of response %s: dueAt: want %s, got %s", e.Response, e.DueAt, have))
			}
		}
		if e.Overdue != nil {
			overdue := false
			for _, cond := range c.Status.Conditions {
				if cond.Type == cxv1alpha1.ConditionOverdue && cond.Status == metav1.ConditionTrue {
					overdue = true
				}
			}
			if overdue != *e.Overdue {
				fails = append(fails, fmt.Sprintf("Case of response %s: overdue: want %v, got %v", e.Response, *e.Overdue, overdue))
			}
		}
		if e.Merged != nil && strings.Join(e.Merged, ",") != strings.Join(c.Spec.RelatedResponses, ",") {
			fails = append(fails, fmt.Sprintf("Case of response %s: merged responses: want %v, got %v", e.Response, e.Merged, c.Spec.RelatedResponses))
		}
		var steps []string
		for _, esc := range c.Status.Escalations {
			steps = append(steps, esc.Step)
		}
		if e.Escalations != nil && strings.Join(e.Escalations, ",") != strings.Join(steps, ",") {
			fails = append(fails, fmt.Sprintf("Case of response %s: escalations: want %v, got %v", e.Response, e.Escalations, steps))
		}
	}
	if ex.CaseCount != nil {
		n := 0
		for _, sc := range s.cases {
			if sc.response != "" {
				n++
			}
		}
		if n != *ex.CaseCount {
			fails = append(fails, fmt.Sprintf("Cases opened by responses: want %d, got %d", *ex.CaseCount, n))
		}
		return fails
	}
	extra := make([]string, 0, len(got))
	for id, sc := range got {
		extra = append(extra, fmt.Sprintf("unexpected Case opened by response %s (rule %s, template %s, severity %s, assignee %s)",
			id, sc.c.Spec.Source.Rule, sc.c.Spec.Template, sc.c.Spec.Severity, sc.c.Spec.Assignee))
	}
	sort.Strings(extra)
	return append(fails, extra...)
}

// compareNotifications is a multiset difference of what was sent and what
// is expected.
func compareNotifications(s *sim, expect []ExpectNotification) []string {
	var fails []string
	count := map[string]int{}
	for _, sn := range s.sent {
		n := sn.ExpectNotification
		count[n.String()]++
		if n.Response != "" {
			// An expectation without a response matches any.
			count[ExpectNotification{Channel: n.Channel, Event: n.Event}.String()+"\x00any"]++
		}
	}
	var missing []string
	for _, e := range expect {
		key := e.String()
		if e.Response == "" {
			key += "\x00any"
		}
		if count[key] == 0 {
			missing = append(missing, e.String())
			continue
		}
		count[key]--
		if e.Response == "" {
			for _, sn := range s.sent {
				n := sn.ExpectNotification
				if n.Channel == e.Channel && n.Event == e.Event && count[n.String()] > 0 {
					count[n.String()]--
					break
				}
			}
		} else {
			count[ExpectNotification{Channel: e.Channel, Event: e.Event}.String()+"\x00any"]--
		}
	}
	for _, m := range missing {
		fails = append(fails, "want notification "+m+", not sent")
	}
	var unexpected []string
	for k, n := range count {
		if strings.HasSuffix(k, "\x00any") {
			continue
		}
		for range n {
			unexpected = append(unexpected, "unexpected notification "+k)
		}
	}
	sort.Strings(unexpected)
	return append(fails, unexpected...)
}

// compareFirings compares the aggregate transitions, in order.
func compareFirings(s *sim, expect []ExpectFiring) []string {
	var fails []string
	got := make([]ExpectFiring, len(s.firings))
	for i, f := range s.firings {
		got[i] = ExpectFiring{Rule: f.Rule, Group: f.Group, Event: "Firing", At: f.At.UTC().Format(time.RFC3339)}
		if f.Resolved {
			got[i].Event = "Resolved"
		}
	}
	for i, e := range expect {
		if i >= len(got) {
			fails = append(fails, "want aggregate "+e.String()+", it did not happen")
			continue
		}
		g := got[i]
		if e.At == "" {
			g.At = ""
		} else if t, err := time.Parse(time.RFC3339, e.At); err == nil {
			e.At = t.UTC().Format(time.RFC3339)
		}
		if g != e {
			fails = append(fails, fmt.Sprintf("aggregate transition %d: want %s, got %s", i+1, e, got[i]))
		}
	}
	for _, g := range got[min(len(expect), len(got)):] {
		fails = append(fails, "unexpected aggregate "+g.String())
	}
	return fails
}

// compareReport builds the report at the end of the test, with the
// report builder the manager runs, and compares its headline numbers.
func compareReport(ctx context.Context, s *sim, e ExpectReport) []string {
	r, err := s.buildReport(ctx, e.Subscription)
	if err != nil {
		return []string{"report " + e.Subscription + ": " + err.Error()}
	}
	var fails []string
	fail := func(format string, args ...any) {
		fails = append(fails, "report "+e.Subscription+": "+fmt.Sprintf(format, args...))
	}
	if e.Responses != nil && *e.Responses != r.Responses {
		fail("responses: want %d, got %d", *e.Responses, r.Responses)
	}
	var kpis *report.KPIs
	var cs *report.CaseStats
	for _, sec := range r.Sections {
		if sec.KPIs != nil {
			kpis = sec.KPIs
		}
		if sec.Cases != nil {
			cs = sec.Cases
		}
	}
	names := make([]string, 0, len(e.KPIs))
	for k := range e.KPIs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		want := e.KPIs[k]
		have := "none"
		if kpis != nil && len(kpis.Rows) > 0 {
			if v := kpis.Rows[0].Value(cxv1alpha1.KPI(k)); v != nil && v.Current != nil {
				if math.Abs(v.Current.Value-want) < 0.05 {
					continue
				}
				have = fmt.Sprintf("%.1f (of %d answers)", v.Current.Value, v.Current.N)
			}
		}
		fail("%s: want %.1f, got %s", k, want, have)
	}
	if c := e.Cases; c != nil {
		if cs == nil {
			fail("has no Cases section (spec.sections)")
			return fails
		}
		check := func(what string, want *int, have int) {
			if want != nil && *want != have {
				fail("cases %s: want %d, got %d", what, *want, have)
			}
		}
		check("opened", c.Opened, cs.Opened)
		check("openNow", c.OpenNow, cs.OpenNow)
		check("overdue", c.Overdue, cs.Overdue)
		check("closed", c.Closed, cs.Closed)
	}
	return fails
}
