package programtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/rules"
	"github.com/cxloop/cxloop/internal/scheme"
)

const backtestUsage = `Usage: cxloop backtest -f PATH... --collector URL (--token-file FILE | --token-secret NAMESPACE/NAME) [--window 30d | --since T [--until T]] [--rule NAME]... [-o text|json]

Replays the responses a collector stores for a window against the program
(typically with a new or changed AlertRule) and prints what it would have
done: matches per rule, Cases by severity and assignee, merges by dedup,
matches left without a Case by the throttle, notifications per hour and
aggregate firings per group. It runs the engine of cxloop test (the
collector's rules and dispatcher, the Case planner, the aggregate state
machine) on a private copy: nothing is written to the collector or the
cluster.

The responses are read over the collector's private API (GET
/v1/responses), with the touchpoint's API token (the Secret
<touchpoint>-collector-api, key token) or the program's (cxloop-program-api).
Contact attributes never leave the collector.

Examples:
  kubectl -n acme-cx port-forward svc/upgrade-install-collector 8081 &
  cxloop backtest -f config/samples -f my-changed-rule.yaml \
    --collector http://127.0.0.1:8081 --token-secret acme-cx/upgrade-install-collector-api --window 30d

Later documents with the same kind and name replace earlier ones, so
-f program/ -f changed-rule.yaml replays the changed rule.
`

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// BacktestOptions are the parsed flags of `cxloop backtest`.
type BacktestOptions struct {
	Paths      []string
	Namespace  string
	Collector  string
	Token      string
	Since      time.Time
	Until      time.Time
	Rules      []string
	JSON       bool
	HTTPClient *collectorclient.Client
}

// Backtest runs `cxloop backtest`.
func Backtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, backtestUsage); fs.PrintDefaults() }
	var paths, ruleNames stringList
	fs.Var(&paths, "f", "program manifests: a file, a folder or a kustomization (repeatable)")
	fs.Var(&ruleNames, "rule", "replay only these AlertRules (repeatable; default: every rule of the program)")
	ns := fs.String("namespace", "", "namespace of the program (default: the manifests' or \"default\")")
	endpoint := fs.String("collector", "", "URL of the collector's private surface, such as http://127.0.0.1:8081")
	tokenFile := fs.String("token-file", "", "file holding the collector API token")
	tokenSecret := fs.String("token-secret", "", "NAMESPACE/NAME of the Secret with the token (key token), read with your kubeconfig")
	window := fs.String("window", "", "replay the last WINDOW, such as 7d or 30d (default 7d)")
	since := fs.String("since", "", "replay from this RFC 3339 time (instead of --window)")
	until := fs.String("until", "", "replay until this RFC 3339 time (default now)")
	output := fs.String("o", "text", "output: text or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	opts := BacktestOptions{Paths: paths, Namespace: *ns, Collector: *endpoint, Rules: ruleNames, JSON: *output == "json"}
	var errs []string
	if len(paths) == 0 {
		errs = append(errs, "-f: name the program's manifests (and the changed rule)")
	}
	if *endpoint == "" {
		errs = append(errs, "--collector: give the URL of the collector's private surface (kubectl port-forward svc/<touchpoint>-collector 8081)")
	}
	if *output != "text" && *output != "json" {
		errs = append(errs, "-o: use text or json")
	}
	opts.Until = time.Now().UTC()
	if *until != "" {
		t, err := time.Parse(time.RFC3339, *until)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--until: %q is not an RFC 3339 time such as 2026-11-01T00:00:00Z", *until))
		}
		opts.Until = t
	}
	switch {
	case *since != "" && *window != "":
		errs = append(errs, "--window: give --window or --since, not both")
	case *since != "":
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--since: %q is not an RFC 3339 time such as 2026-11-01T00:00:00Z", *since))
		}
		opts.Since = t
	default:
		w := "7d"
		if *window != "" {
			w = *window
		}
		d, err := cxv1alpha1.ParseDuration(w)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Sprintf("--window: %q is not a positive duration such as 7d or 30d", w))
		}
		opts.Since = opts.Until.Add(-d)
	}
	switch {
	case *tokenFile != "" && *tokenSecret != "":
		errs = append(errs, "--token-file: give --token-file or --token-secret, not both")
	case *tokenFile != "":
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			errs = append(errs, "--token-file: "+err.Error())
		}
		opts.Token = strings.TrimSpace(string(b))
	case *tokenSecret != "":
		t, err := tokenFromSecret(ctx, *tokenSecret)
		if err != nil {
			errs = append(errs, "--token-secret: "+err.Error())
		}
		opts.Token = t
	default:
		errs = append(errs, "--token-file or --token-secret: the collector's private API needs its token")
	}
	if len(errs) > 0 {
		return fmt.Errorf("backtest: %s", strings.Join(errs, "\n  "))
	}
	res, err := RunBacktest(ctx, opts)
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	if opts.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.WriteText(stdout)
	return nil
}

// tokenFromSecret reads key token of the Secret NAMESPACE/NAME with the
// person's kubeconfig (their RBAC applies).
func tokenFromSecret(ctx context.Context, ref string) (string, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return "", fmt.Errorf("%q: write NAMESPACE/NAME, such as acme-cx/upgrade-install-collector-api", ref)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return "", err
	}
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(s.Data["token"]))
	if t == "" {
		return "", fmt.Errorf("the Secret %s has no key token", ref)
	}
	return t, nil
}

// BacktestResult is what the replay would have done.
type BacktestResult struct {
	Touchpoint string    `json:"touchpoint"`
	Since      time.Time `json:"since"`
	Until      time.Time `json:"until"`
	Responses  int       `json:"responses"`
	// Matches per rule.
	Matches map[string]int `json:"matches"`
	// Cases opened by responses, and by the severity and assignee they
	// were opened with.
	Cases           int            `json:"cases"`
	CasesBySeverity map[string]int `json:"casesBySeverity"`
	CasesByAssignee map[string]int `json:"casesByAssignee"`
	// Merged matches went into an open Case of their dedup key; Throttled
	// ones opened no Case because the rule reached maxCasesPerHour.
	Merged    int `json:"merged"`
	Throttled int `json:"throttled"`
	// Notifications by channel and event, and per hour.
	Notifications        map[string]int `json:"notifications"`
	NotificationsPerHour HourlyCounts   `json:"notificationsPerHour"`
	// Firings counts the times each aggregate group began firing
	// ("rule/group").
	Firings map[string]int `json:"firings"`
	// StrategicCases are the Cases aggregate firings opened.
	StrategicCases int `json:"strategicCases"`
	// Failures the dispatcher met (a template that rejects the Case...).
	Failures []string `json:"failures,omitempty"`
}

// HourlyCounts summarizes a count per clock hour of the window.
type HourlyCounts struct {
	Total int `json:"total"`
	// Peak is the busiest hour and its count.
	Peak     int       `json:"peak"`
	PeakHour time.Time `json:"peakHour,omitzero"`
	// Mean per hour of the window.
	Mean float64 `json:"mean"`
}

// RunBacktest reads the collector's responses for the window and
// replays them.
func RunBacktest(ctx context.Context, o BacktestOptions) (*BacktestResult, error) {
	prog, err := loadProgram(ctx, o.Paths, o.Namespace)
	if err != nil {
		return nil, err
	}
	if len(o.Rules) > 0 {
		var keep []cxv1alpha1.AlertRule
		for _, name := range o.Rules {
			i := slices.IndexFunc(prog.AlertRules, func(r cxv1alpha1.AlertRule) bool { return r.Name == name })
			if i < 0 {
				return nil, fmt.Errorf("--rule %s: no AlertRule of that name in the program", name)
			}
			keep = append(keep, prog.AlertRules[i])
		}
		p := *prog
		p.AlertRules = keep
		prog = &p
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = collectorclient.New(nil)
	}
	target := collectorclient.Target{Endpoint: o.Collector, Token: o.Token}
	ns := o.Namespace
	if ns == "" && len(prog.Touchpoints) > 0 {
		ns = prog.Touchpoints[0].Namespace
	}
	s, err := newSim(prog, ns, o.Since)
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := s.tick(ctx); err != nil {
		return nil, err
	}
	res := &BacktestResult{Since: o.Since, Until: o.Until}
	var tp *cxv1alpha1.SurveyTouchpoint
	q := collectorclient.ResponseQuery{Since: o.Since, Until: o.Until, Limit: collectorclient.MaxResponsePage}
	for {
		page, err := hc.Responses(ctx, target, q)
		if err != nil {
			return nil, fmt.Errorf("read the collector's responses: %w", err)
		}
		if tp == nil {
			res.Touchpoint = page.Touchpoint
			if tp, err = s.touchpoint(page.Touchpoint); err != nil {
				return nil, fmt.Errorf("the collector serves touchpoint %s: %w (add its manifest with -f)", page.Touchpoint, err)
			}
		}
		for _, r := range page.Responses {
			if err := s.replay(ctx, tp, r); err != nil {
				return nil, err
			}
			res.Responses++
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if err := s.advanceTo(ctx, o.Until); err != nil {
		return nil, err
	}
	s.summarize(res)
	return res, nil
}

// replay takes one stored response at the time it was submitted.
func (s *sim) replay(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, r collectorclient.StoredResponse) error {
	if r.SubmittedAt.After(s.now) {
		if err := s.advanceTo(ctx, r.SubmittedAt); err != nil {
			return err
		}
	}
	answers, err := collector.StoredAnswers(tp, r.Answers)
	if err != nil {
		return fmt.Errorf("response %s: %w", r.ID, err)
	}
	resp := &rules.Response{
		ID: r.ID, Touchpoint: tp.Name, Answers: answers, Comment: r.Comment, Themes: r.Themes, Metadata: r.Metadata, SubmittedAt: s.now,
		Customer: rules.Customer{ID: r.Customer.ID, Tier: r.Customer.Tier, Segment: r.Customer.Segment, Attributes: r.Customer.Attributes},
	}
	return s.respond(ctx, resp, r.Sentiment, r.Themes)
}

func (s *sim) summarize(res *BacktestResult) {
	res.Matches = s.matches
	res.CasesBySeverity, res.CasesByAssignee = map[string]int{}, map[string]int{}
	for _, sc := range s.cases {
		if sc.response == "" {
			res.StrategicCases++
			continue
		}
		res.Cases++
		res.CasesBySeverity[sc.severity]++
		assignee := sc.assignee
		if assignee == "" {
			assignee = "(unassigned)"
		}
		res.CasesByAssignee[assignee]++
	}
	o := s.outcomes()
	res.Merged, res.Throttled = o["merged"], o["throttled"]
	res.Notifications = map[string]int{}
	perHour := map[time.Time]int{}
	for _, n := range s.sent {
		res.Notifications[n.Channel+" "+n.Event]++
		perHour[n.At.UTC().Truncate(time.Hour)]++
	}
	res.NotificationsPerHour.Total = len(s.sent)
	for h, n := range perHour {
		if n > res.NotificationsPerHour.Peak || n == res.NotificationsPerHour.Peak && h.Before(res.NotificationsPerHour.PeakHour) {
			res.NotificationsPerHour.Peak, res.NotificationsPerHour.PeakHour = n, h
		}
	}
	if hours := res.Until.Sub(res.Since).Hours(); hours > 0 {
		res.NotificationsPerHour.Mean = float64(len(s.sent)) / hours
	}
	res.Firings = map[string]int{}
	for _, f := range s.firings {
		if !f.Resolved {
			res.Firings[f.Rule+"/"+f.Group]++
		}
	}
	res.Failures = s.failures
}

// WriteText prints the result for a reviewer.
func (r *BacktestResult) WriteText(w io.Writer) {
	fmt.Fprintf(w, "Replayed %d responses of touchpoint %s from %s to %s. Nothing was changed.\n\n",
		r.Responses, r.Touchpoint, r.Since.UTC().Format(time.RFC3339), r.Until.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	section := func(title string, m map[string]int) {
		fmt.Fprintln(tw, title)
		if len(m) == 0 {
			fmt.Fprintln(tw, "  none\t")
		}
		for _, k := range sortedKeys(m) {
			fmt.Fprintf(tw, "  %s\t%d\n", k, m[k])
		}
		fmt.Fprintln(tw)
	}
	section("Matches by rule", r.Matches)
	fmt.Fprintf(tw, "Cases opened\t%d\n", r.Cases)
	fmt.Fprintf(tw, "  merged into an open Case (dedup)\t%d\n", r.Merged)
	fmt.Fprintf(tw, "  left without a Case (throttled)\t%d\n", r.Throttled)
	if r.StrategicCases > 0 {
		fmt.Fprintf(tw, "  strategic Cases of aggregate firings\t%d\n", r.StrategicCases)
	}
	fmt.Fprintln(tw)
	section("Cases by severity", r.CasesBySeverity)
	section("Cases by assignee", r.CasesByAssignee)
	section("Notifications by channel and event", r.Notifications)
	h := r.NotificationsPerHour
	fmt.Fprintf(tw, "Notifications per hour\t%.1f on average", h.Mean)
	if h.Peak > 0 {
		fmt.Fprintf(tw, ", at most %d (%s)", h.Peak, h.PeakHour.Format("2006-01-02 15:04Z"))
	}
	fmt.Fprint(tw, "\n\n")
	section("Aggregate firings by rule/group", r.Firings)
	_ = tw.Flush()
	for _, f := range r.Failures {
		fmt.Fprintf(w, "warning: %s\n", f)
	}
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
