package programtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/alerting"
	"github.com/cxloop/cxloop/internal/cases"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/report"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/scheme"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/validate"
)

// sim is a program running offline, on the code the collector and the
// manager run: a real SQLite store (responses, the outbox, the case
// ledger behind dedup and throttling), the collector's rule evaluation
// and its dispatcher, the Case planner, the aggregate state machine and
// the report builder. Cases live in an in-memory API (controller-runtime's
// fake client), which the dispatcher creates, reads and patches as it
// does the API server's.
type sim struct {
	prog       *validate.Program
	ns         string
	now        time.Time
	dir        string
	store      store.Store
	kube       client.Client
	dispatcher *collector.Dispatcher
	evaluators map[string]*collector.Evaluator
	router     cases.Router
	// cases by name, in the order they were opened.
	cases []*simCase
	// aggregate rules, with the status the manager keeps.
	aggregates []*cxv1alpha1.AlertRule
	sent       []sentNotification
	firings    []firing
	// matches counts the responses each rule matched.
	matches map[string]int
	// delivered are the message keys delivered per channel: a channel
	// delivers a key once.
	delivered map[string]bool
	// registry holds the dispatcher's metrics: what it merged and
	// throttled.
	registry *prometheus.Registry
	// lastFailure is the dispatcher failure reported last.
	lastFailure time.Time
	failures    []string
}

type simCase struct {
	c    *cxv1alpha1.Case
	tmpl *cxv1alpha1.CaseTemplate
	// response opened it ("" for a strategic Case of an aggregate rule).
	response string
	// severity and assignee it was opened with (escalation may change
	// them later).
	severity, assignee string
}

// sentNotification is one delivery, at a time.
type sentNotification struct {
	ExpectNotification
	At time.Time
}

// firing is an aggregate group that began or stopped firing.
type firing struct {
	Rule, Group string
	Resolved    bool
	At          time.Time
	Value       float64
}

// newSim opens the simulation's store in a temporary folder; close
// removes it.
func newSim(prog *validate.Program, ns string, start time.Time) (*sim, error) {
	if ns == "" {
		ns = "default"
	}
	dir, err := os.MkdirTemp("", "cxloop-test-")
	if err != nil {
		return nil, err
	}
	s := &sim{prog: prog, ns: ns, now: start, dir: dir, evaluators: map[string]*collector.Evaluator{},
		matches: map[string]int{}, delivered: map[string]bool{}, registry: prometheus.NewRegistry()}
	s.store, err = store.Open(context.Background(), store.Config{Namespace: ns, Driver: store.DriverSQLite,
		Path: filepath.Join(dir, "responses.db"), Synchronous: "NORMAL", Now: s.clock})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("open the simulation's store: %w", err)
	}
	var objs []client.Object
	for i := range prog.CaseTemplates {
		t := prog.CaseTemplates[i].DeepCopy()
		t.Namespace = ns
		objs = append(objs, t)
	}
	s.kube = fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(objs...).
		WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			// The API server stamps creation; the fake client does not.
			obj.SetCreationTimestamp(metav1.NewTime(s.now.Truncate(time.Second)))
			obj.SetUID(types.UID("uid-" + obj.GetName()))
			return c.Create(ctx, obj, opts...)
		}}).Build()
	s.dispatcher = collector.NewDispatcher(collector.DispatcherOptions{
		Store: s.store, Client: s.kube, Templates: s.kube, Notifier: recorder{s}, Now: s.clock, Workers: 1, Log: logr.Discard(), Registerer: s.registry,
	})
	for i := range prog.AlertRules {
		if prog.AlertRules[i].Spec.Aggregate != nil && !prog.AlertRules[i].Spec.Suspend {
			r := prog.AlertRules[i].DeepCopy()
			r.Namespace = ns
			s.aggregates = append(s.aggregates, r)
		}
	}
	return s, nil
}

func (s *sim) clock() time.Time { return s.now }

func (s *sim) close() {
	_ = s.store.Close()
	_ = os.RemoveAll(s.dir)
}

// recorder is the dispatcher's notifier: it records what would be sent.
type recorder struct{ s *sim }

func (r recorder) Deliver(_ context.Context, _, channel string, msg notify.Message) error {
	if msg.Key != "" {
		if r.s.delivered[channel+"\x00"+msg.Key] {
			return nil
		}
		r.s.delivered[channel+"\x00"+msg.Key] = true
	}
	id, _ := msg.Data["responseID"].(string)
	r.s.sent = append(r.s.sent, sentNotification{ExpectNotification{Channel: channel, Event: msg.Event, Response: id}, r.s.now})
	return nil
}

// touchpoint returns the program's touchpoint name, or an error naming it.
func (s *sim) touchpoint(name string) (*cxv1alpha1.SurveyTouchpoint, error) {
	for i := range s.prog.Touchpoints {
		if s.prog.Touchpoints[i].Name == name {
			return &s.prog.Touchpoints[i], nil
		}
	}
	return nil, fmt.Errorf("no SurveyTouchpoint %q in the program", name)
}

// respond takes a response as the collector does: it evaluates the
// per-response rules, stores the response with its actions in one
// transaction, and lets the dispatcher drain the outbox.
func (s *sim) respond(ctx context.Context, resp *rules.Response, sentiment *float64, themes []string) error {
	tp, err := s.touchpoint(resp.Touchpoint)
	if err != nil {
		return fmt.Errorf("response %s: %w", resp.ID, err)
	}
	ev := s.evaluators[tp.Name]
	if ev == nil {
		if ev, err = collector.NewEvaluator(tp, s.prog.AlertRules); err != nil {
			return err
		}
		s.evaluators[tp.Name] = ev
	}
	if sentiment != nil {
		resp.Sentiment = *sentiment
	}
	m, err := ev.Evaluate(s.ns, resp, sentiment, s.now)
	if err != nil && len(m.Rules) == 0 {
		var skipped []string
		for name, why := range m.Skipped {
			skipped = append(skipped, name+": "+why)
		}
		sort.Strings(skipped)
		if len(skipped) > 0 {
			err = errors.Join(err, fmt.Errorf("rules not evaluated: %s", strings.Join(skipped, "; ")))
		}
		return fmt.Errorf("response %s: %w", resp.ID, err)
	}
	for _, r := range m.Rules {
		s.matches[r]++
	}
	answers, err := json.Marshal(resp.Answers)
	if err != nil {
		return fmt.Errorf("response %s: %w", resp.ID, err)
	}
	res, err := s.store.SaveResponses(ctx, []store.NewResponse{{
		Touchpoint: resp.Touchpoint, ID: resp.ID, Answers: answers, Comment: resp.Comment, Sentiment: sentiment, Themes: themes,
		Customer:    store.Customer{ID: resp.Customer.ID, Tier: resp.Customer.Tier, Segment: resp.Customer.Segment, Attributes: resp.Customer.Attributes},
		Metadata:    resp.Metadata,
		SubmittedAt: s.now, Actions: m.Actions,
	}})
	if err == nil && res[0].Err != nil {
		err = res[0].Err
	}
	if err != nil {
		return fmt.Errorf("store response %s: %w", resp.ID, err)
	}
	return s.dispatch(ctx)
}

// dispatch drains the due outbox actions, then runs the Case controller's
// planner on the Cases the dispatcher opened or merged into.
func (s *sim) dispatch(ctx context.Context) error {
	handled := 0
	for range 1000 {
		n, err := s.dispatcher.DispatchOnce(ctx)
		if err != nil {
			return err
		}
		if f := s.dispatcher.LastFailure(); !f.At.IsZero() && f.At != s.lastFailure {
			s.lastFailure = f.At
			s.failures = append(s.failures, "the dispatcher failed: "+f.Error)
		}
		if n == 0 {
			break
		}
		handled += n
	}
	if handled == 0 {
		return nil
	}
	return s.syncCases(ctx)
}

// syncCases reads the Cases from the in-memory API: new ones are planned
// at once (defaults, deadlines, the Opened notification), known ones get
// the responses merged into them.
func (s *sim) syncCases(ctx context.Context) error {
	var list cxv1alpha1.CaseList
	if err := s.kube.List(ctx, &list, client.InNamespace(s.ns)); err != nil {
		return err
	}
	sort.Slice(list.Items, func(i, j int) bool {
		return list.Items[i].CreationTimestamp.Before(&list.Items[j].CreationTimestamp) ||
			list.Items[i].CreationTimestamp.Equal(&list.Items[j].CreationTimestamp) && list.Items[i].Name < list.Items[j].Name
	})
	known := map[string]*simCase{}
	for _, sc := range s.cases {
		known[sc.c.Name] = sc
	}
	for i := range list.Items {
		c := list.Items[i].DeepCopy()
		if sc := known[c.Name]; sc != nil {
			sc.c = c
			continue
		}
		sc := &simCase{c: c}
		if c.Spec.Source != nil {
			sc.response = c.Spec.Source.ResponseID
		}
		for j := range s.prog.CaseTemplates {
			if s.prog.CaseTemplates[j].Name == c.Spec.Template {
				sc.tmpl = &s.prog.CaseTemplates[j]
			}
		}
		if sc.tmpl == nil {
			return fmt.Errorf("case %s: no CaseTemplate %q in the program", c.Name, c.Spec.Template)
		}
		s.cases = append(s.cases, sc)
		if err := s.plan(ctx, sc); err != nil {
			return err
		}
		sc.severity, sc.assignee = string(sc.c.Spec.Severity), sc.c.Spec.Assignee
	}
	return nil
}

// plan runs the Case planner on one Case at now, records the
// notifications it owes as the Case controller delivers them, and writes
// the Case back.
func (s *sim) plan(ctx context.Context, sc *simCase) error {
	before := sc.c.DeepCopy()
	p := cases.Evaluate(sc.c, sc.tmpl, s.now, &s.router)
	for _, due := range cases.NotificationsDue(sc.c, sc.tmpl, p.Transitions) {
		s.sent = append(s.sent, sentNotification{ExpectNotification{Channel: due.Channel, Event: string(due.Transition.Event), Response: sc.response}, s.now})
		sc.c.Status.Notifications = append(sc.c.Status.Notifications, cxv1alpha1.NotificationRecord{
			Key: due.Transition.Key, Event: due.Transition.Event, Channel: due.Channel, Time: metav1.NewTime(s.now),
		})
	}
	if equality.Semantic.DeepEqual(before, sc.c) {
		return nil
	}
	if err := s.kube.Update(ctx, sc.c); err != nil {
		return fmt.Errorf("case %s: %w", sc.c.Name, err)
	}
	return nil
}

// next is the earliest time after now something is due: a Case deadline,
// an aggregate evaluation, a retried outbox action; zero when none.
func (s *sim) next() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && t.After(s.now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, sc := range s.cases {
		earlier(cases.Evaluate(sc.c.DeepCopy(), sc.tmpl, s.now, &s.router).Next)
	}
	for _, r := range s.aggregates {
		earlier(s.now.Add(alerting.Next(r, s.now)))
	}
	return next
}

// advanceTo moves the clock to end, stopping at every deadline and
// aggregate evaluation on the way, as the manager's requeues do.
func (s *sim) advanceTo(ctx context.Context, end time.Time) error {
	for range 1_000_000 {
		next := s.next()
		if next.IsZero() || next.After(end) {
			next = end
		}
		s.now = next
		if err := s.tick(ctx); err != nil {
			return err
		}
		if !s.now.Before(end) {
			return nil
		}
	}
	return fmt.Errorf("the clock did not reach %s", end.Format(time.RFC3339))
}

// tick does what is due now: retried outbox actions, the aggregate rules
// due, and the Case planner on every Case.
func (s *sim) tick(ctx context.Context) error {
	if err := s.evaluateAggregates(ctx); err != nil {
		return err
	}
	if err := s.dispatch(ctx); err != nil {
		return err
	}
	for _, sc := range s.cases {
		if err := s.plan(ctx, sc); err != nil {
			return err
		}
	}
	return nil
}

// evaluateAggregates runs each aggregate rule that is due, as the
// AlertRule controller does: both windows from the store (the collector's
// aggregates), the state machine, and the effects its transitions owe.
func (s *sim) evaluateAggregates(ctx context.Context) error {
	src := collector.StoreSource{Store: s.store}
	for _, r := range s.aggregates {
		if !alerting.Due(r, s.now) {
			continue
		}
		selected, _ := validate.SelectTouchpoints(r.Spec.Touchpoints, s.prog.Touchpoints)
		trs := alerting.Evaluate(r, alerting.Fetch(ctx, src, selected, r.Spec.Aggregate, s.now))
		r.Status.ObservedGeneration = r.Generation
		for _, tr := range trs {
			s.firings = append(s.firings, firing{Rule: r.Name, Group: tr.Group.Group, Resolved: tr.Resolved, At: s.now, Value: tr.Group.Value})
		}
		for _, e := range alerting.Effects(r, trs, s.now) {
			if e.Case != "" {
				if err := s.openStrategicCase(ctx, r, e); err != nil {
					return err
				}
				continue
			}
			msg := alerting.Message(r, alerting.TransitionOf(e), e.At.Time)
			s.sent = append(s.sent, sentNotification{ExpectNotification{Channel: e.Channel, Event: msg.Event}, s.now})
		}
	}
	return nil
}

func (s *sim) openStrategicCase(ctx context.Context, r *cxv1alpha1.AlertRule, e cxv1alpha1.PendingEffect) error {
	c := alerting.StrategicCase(r, e.Group)
	if c == nil {
		return nil
	}
	c.Namespace = s.ns
	if err := s.kube.Create(ctx, c); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("strategic case %s: %w", c.Name, err)
	}
	return s.syncCases(ctx)
}

// buildReport builds a ReportSubscription's report at now, with the
// report builder the manager runs, on the simulation's store and Cases.
func (s *sim) buildReport(ctx context.Context, name string) (*report.Report, error) {
	var sub *cxv1alpha1.ReportSubscription
	for i := range s.prog.ReportSubscriptions {
		if s.prog.ReportSubscriptions[i].Name == name {
			sub = s.prog.ReportSubscriptions[i].DeepCopy()
		}
	}
	if sub == nil {
		return nil, fmt.Errorf("no ReportSubscription %q in the program", name)
	}
	sub.Namespace = s.ns
	selected, _ := validate.SelectTouchpoints(sub.Spec.Touchpoints, s.prog.Touchpoints)
	cs := make([]cxv1alpha1.Case, 0, len(s.cases))
	for _, sc := range s.cases {
		cs = append(cs, *sc.c)
	}
	return report.Build(ctx, report.Input{Subscription: sub, Touchpoints: selected, Cases: cs,
		CaseTemplates: s.prog.CaseTemplates, Source: collector.StoreSource{Store: s.store}, End: s.now})
}

// outcomes counts the open_case actions the dispatcher handled, by
// result (done, merged, throttled), from its own metrics.
func (s *sim) outcomes() map[string]int {
	out := map[string]int{}
	families, _ := s.registry.Gather()
	for _, f := range families {
		if f.GetName() != "cxloop_collector_outbox_actions_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var kind, result string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "kind":
					kind = l.GetValue()
				case "result":
					result = l.GetValue()
				}
			}
			if kind == store.ActionOpenCase {
				out[result] += int(m.GetCounter().GetValue())
			}
		}
	}
	return out
}
