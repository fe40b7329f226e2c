package demo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/controllers"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/report"
)

// wake stands in for the timers of the controllers on the accelerated
// clock. The controllers read the injected clock, but controller-runtime
// waits RequeueAfter on the wall clock, so a Case due in a simulated day
// would wait a real day for its reconcile. At every tick wake annotates each Case with a
// deadline passed since its last tick (first-response and closure
// deadlines, escalation steps, the end of a closed Case's retention) with
// the simulated time; the Case controller reconciles on annotation
// changes. It also labels each SurveyTouchpoint with the simulated time,
// which makes the AlertRule controller reconcile the namespace's rules, so
// aggregate rules evaluate when their period has passed on the injected
// clock. With team, the simulated frontline team works the Cases through
// the inbox (see team.work).
//
// The simulated clock is held at most two ticks of simulated time (and at
// least a minute) ahead of the last wake: when the machine is too slow for
// the speed asked, the simulated days take longer instead of passing
// without the controllers and the team having seen them.
func wake(ctx context.Context, cl client.Client, namespace string, clock *Clock, tick time.Duration, team *team, log logr.Logger) {
	every(ctx, tick, func() {
		now := clock.Now()
		err := wakeOnce(ctx, cl, namespace, now.UTC(), team)
		if err != nil && ctx.Err() == nil {
			log.Error(err, "wake controllers on the simulated clock")
		}
		lead := max(time.Duration(2*float64(tick)*clock.Speed()), time.Minute)
		clock.HoldAt(now.Add(lead))
	})
}

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

func wakeOnce(ctx context.Context, cl client.Client, namespace string, now time.Time, team *team) error {
	var templates cxv1alpha1.CaseTemplateList
	if err := cl.List(ctx, &templates, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("list case templates: %w", err)
	}
	byName := map[string]*cxv1alpha1.CaseTemplate{}
	for i := range templates.Items {
		byName[templates.Items[i].Name] = &templates.Items[i]
	}
	var cases cxv1alpha1.CaseList
	if err := cl.List(ctx, &cases, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("list cases: %w", err)
	}
	// The team's error (an inbox that answered 5xx, say) does not keep
	// the controllers from being woken: it is returned after that, and
	// the team tries again at the next tick.
	var teamErr error
	if team != nil {
		teamErr = team.work(ctx, cases.Items, byName, now)
	}
	stamp := now.Format(time.RFC3339)
	for i := range cases.Items {
		c := &cases.Items[i]
		last, _ := time.Parse(time.RFC3339, c.Annotations[tickAnnotation])
		if !deadlinePassed(c, byName[c.Spec.Template], last, now) {
			continue
		}
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, tickAnnotation, stamp)
		if err := cl.Patch(ctx, c, client.RawPatch(types.MergePatchType, patch)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("annotate case %s: %w", c.Name, err)
		}
	}
	var tps cxv1alpha1.SurveyTouchpointList
	if err := cl.List(ctx, &tps, client.InNamespace(namespace)); err != nil {
		return fmt.Errorf("list touchpoints: %w", err)
	}
	for i := range tps.Items {
		patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, tickAnnotation, now.Format("20060102T1504Z"))
		if err := cl.Patch(ctx, &tps.Items[i], client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("label touchpoint %s: %w", tps.Items[i].Name, err)
		}
	}
	return teamErr
}

// deadlinePassed reports whether one of the Case's deadlines lies in
// (last, now].
func deadlinePassed(c *cxv1alpha1.Case, t *cxv1alpha1.CaseTemplate, last, now time.Time) bool {
	st := &c.Status
	if st.OpenedAt == nil {
		return false // not reconciled yet: its creation wakes the controller
	}
	if last.IsZero() {
		last = st.OpenedAt.Time
	}
	var deadlines []time.Time
	add := func(base *metav1.Time, after time.Duration) {
		if base != nil {
			deadlines = append(deadlines, base.Add(after))
		}
	}
	add(st.FirstResponseDueAt, 0)
	add(st.DueAt, 0)
	if t != nil {
		for _, step := range t.Spec.Escalation {
			if step.Trigger == cxv1alpha1.TriggerFirstResponseMissed {
				add(st.FirstResponseDueAt, step.After.Duration)
			} else {
				add(st.DueAt, step.After.Duration)
			}
		}
		if t.Spec.Retention != nil {
			add(st.ClosedAt, t.Spec.Retention.Duration)
		}
	}
	for _, d := range deadlines {
		if d.After(last) && !d.After(now) {
			return true
		}
	}
	return false
}

// progress prints one line every two seconds until ctx ends.
func progress(ctx context.Context, out *printer, cl client.Client, namespace string, clock *Clock, stats *Stats, inbox *Inbox, target int) {
	every(ctx, 2*time.Second, func() {
		cases := "?"
		var list cxv1alpha1.CaseList
		if err := cl.List(ctx, &list, client.InNamespace(namespace)); err == nil {
			c := countCases(list.Items)
			cases = fmt.Sprintf("%d (%d overdue, %d escalated)", c.Total, c.Overdue, c.Escalated)
		}
		var refused int64
		for _, n := range stats.NotInvitedCounts() {
			refused += n
		}
		out.Printf("  sim %s (+%s)  responses %d/%d  not invited %d  cases %s  notifications %d\n",
			clock.Now().Format("Mon 02 Jan 15:04"), formatElapsed(clock.Elapsed()), stats.Responses.Load(), target,
			refused, cases, inbox.Total())
	})
}

// formatElapsed prints a simulated duration as days and hours.
func formatElapsed(d time.Duration) string {
	h := int(d.Hours())
	if h < 24 {
		return fmt.Sprintf("%dh%02dm", h, int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", h/24, h%24)
}

// settle lets simulated time run until simulate has passed, then freezes
// the clock and waits (at most a real minute) until the collectors'
// outboxes are drained, the simulated customers have done what was due
// (idle) and the collectors' invitation counts held still for one poll (a
// batch of messages the customers already have is recorded), so every
// Case, notification and message of the run exists and the summary reads
// one simulated instant.
func settle(ctx context.Context, clock *Clock, simulate time.Duration, collectors *Collectors, idle func() bool, mgrErr <-chan error) error {
	api := collectorclient.New(nil)
	var drainedBy time.Time
	var last *collectorclient.InvitationCounts
	for {
		if clock.Elapsed() >= simulate {
			if drainedBy.IsZero() {
				clock.Freeze()
				drainedBy = time.Now().Add(time.Minute)
			}
			depth := int64(0)
			var sts []*collectorclient.Status
			for _, ep := range collectors.Endpoints() {
				st, err := api.Status(ctx, ep.Private)
				if err != nil {
					return fmt.Errorf("read collector status at %s: %w", ep.Private.Endpoint, err)
				}
				depth += st.OutboxDepth
				sts = append(sts, st)
			}
			counts := outreachOf(sts)
			still := last != nil && *last == counts
			last = &counts
			if (depth == 0 && idle() && still) || time.Now().After(drainedBy) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-mgrErr:
			return err
		case err := <-collectors.Errors():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// runReport runs every ReportSubscription of the namespace now (the run-now
// annotation), waits for its result and writes its HTML, with the charts
// inline, under <dataDir>/reports/. It returns the path of the first
// report, or "" when the namespace has no subscription.
func runReport(ctx context.Context, cl client.Client, namespace string, clock *Clock, dataDir string) (string, error) {
	var subs cxv1alpha1.ReportSubscriptionList
	if err := cl.List(ctx, &subs, client.InNamespace(namespace)); err != nil {
		return "", fmt.Errorf("list report subscriptions: %w", err)
	}
	first := ""
	for i := range subs.Items {
		rs := &subs.Items[i]
		trigger := clock.Now().UTC().Format(time.RFC3339)
		patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:%q}}}`, controllers.RunNowAnnotation, trigger)
		if err := cl.Patch(ctx, rs, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return "", fmt.Errorf("trigger report %s: %w", rs.Name, err)
		}
		err := poll(ctx, time.Minute, func() (bool, error) {
			if err := cl.Get(ctx, client.ObjectKeyFromObject(rs), rs); err != nil {
				return false, err
			}
			return rs.Status.LastManualTrigger == trigger && rs.Status.LastResult != "", nil
		})
		if err != nil {
			return "", fmt.Errorf("report %s did not run after the %s annotation: %w", rs.Name, controllers.RunNowAnnotation, err)
		}
		if rs.Status.ReportConfigMap == "" {
			return "", fmt.Errorf("report %s: %s: %s", rs.Name, rs.Status.LastResult, rs.Status.LastResultMessage)
		}
		path, err := writeReportHTML(ctx, cl, rs, filepath.Join(dataDir, "reports"))
		if err != nil {
			return "", err
		}
		if first == "" {
			first = path
		}
	}
	return first, nil
}

// writeReportHTML renders the report kept in the subscription's ConfigMap
// as an HTML file for a browser: the email's HTML with its charts as data
// URIs in place of cid: references.
func writeReportHTML(ctx context.Context, cl client.Client, rs *cxv1alpha1.ReportSubscription, dir string) (string, error) {
	cm := &corev1.ConfigMap{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: rs.Status.ReportConfigMap}, cm); err != nil {
		return "", fmt.Errorf("read report ConfigMap %s: %w", rs.Status.ReportConfigMap, err)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(cm.Data["report.json"]), &r); err != nil {
		return "", fmt.Errorf("decode report.json of ConfigMap %s: %w", cm.Name, err)
	}
	rd, err := report.Render(&r)
	if err != nil {
		return "", err
	}
	html := rd.HTML
	for _, a := range rd.Attachments {
		html = strings.ReplaceAll(html, "cid:"+a.ContentID, "data:"+a.ContentType+";base64,"+base64.StdEncoding.EncodeToString(a.Data))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, rs.Name+".html")
	if err := os.WriteFile(path, []byte(html), 0o644); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return path, nil
}
