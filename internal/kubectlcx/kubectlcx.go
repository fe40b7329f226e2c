package kubectlcx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/programcheck"
	"github.com/cxloop/cxloop/internal/programtest"
	cxscheme "github.com/cxloop/cxloop/internal/scheme"
)

// RunNowAnnotation triggers a report run (see the ReportSubscription
// controller).
const RunNowAnnotation = "cx.cxloop.io/run-now"

// IO is where a command reads and writes.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// Main runs the plugin with os.Args and exits non-zero on error, printing
// the API server's message as it is.
func Main() {
	cmd := NewCommand(IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, time.Now)
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", Plain(err))
		os.Exit(1)
	}
}

// Plain is the message of err as a person should read it: an API server
// refusal is its status message (the admission policy's or the CRD's
// words), without Go wrapping.
func Plain(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return status.Status().Message
	}
	return err.Error()
}

// session is what every cluster command needs.
type session struct {
	client    client.Client
	config    *rest.Config
	namespace string
	now       func() time.Time
}

// NewCommand builds `kubectl cx`. now is the clock for `at` of actions and
// for due-in times.
func NewCommand(streams IO, now func() time.Time) *cobra.Command {
	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	overrides := &clientcmd.ConfigOverrides{}
	root := &cobra.Command{
		Use:           "kubectl-cx",
		Short:         "Work cxloop Cases and reports from kubectl, and check CX programs before they ship",
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl cx"},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	flags := root.PersistentFlags()
	flags.StringVar(&loading.ExplicitPath, "kubeconfig", "", "path to the kubeconfig file")
	flags.StringVar(&overrides.CurrentContext, "context", "", "the kubeconfig context to use")
	flags.StringVarP(&overrides.Context.Namespace, "namespace", "n", "", "namespace of the program (default: the context's)")
	flags.StringVar(&overrides.AuthInfo.Impersonate, "as", "", "user to impersonate (as kubectl --as)")
	flags.StringArrayVar(&overrides.AuthInfo.ImpersonateGroups, "as-group", nil, "group to impersonate; repeatable")

	connect := func() (*session, error) {
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, overrides)
		cfg, err := cc.ClientConfig()
		if err != nil {
			return nil, err
		}
		ns, _, err := cc.Namespace()
		if err != nil {
			return nil, err
		}
		c, err := client.New(cfg, client.Options{Scheme: cxscheme.New()})
		if err != nil {
			return nil, err
		}
		return &session{client: client.WithFieldValidation(c, metav1.FieldValidationStrict), config: cfg, namespace: ns, now: now}, nil
	}
	completeCases := func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		s, err := connect()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var l cxv1alpha1.CaseList
		if err := s.client.List(cmd.Context(), &l, client.InNamespace(s.namespace)); err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []string
		for _, c := range l.Items {
			names = append(names, c.Name+"\t"+c.Spec.Title)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}

	root.AddCommand(casesCommand(connect), caseCommand(connect, completeCases),
		actCommand(connect, completeCases), moveCommand(connect, completeCases), takeCommand(connect, completeCases),
		assignCommand(connect, completeCases), closeCommand(connect, completeCases), reportCommand(connect),
		validateCommand(streams), testCommand(), backtestCommand())
	return root
}

type connectFunc func() (*session, error)

// whoami is the user the API server sees (after impersonation).
func (s *session) whoami(ctx context.Context) (string, error) {
	cs, err := kubernetes.NewForConfig(s.config)
	if err != nil {
		return "", err
	}
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("who am I (SelfSubjectReview): %w", err)
	}
	return r.Status.UserInfo.Username, nil
}

// update changes a Case with an optimistic lock, retrying on conflict with
// a fresh read, so that nobody's concurrent change is lost.
func (s *session) update(ctx context.Context, name string, change func(*cxv1alpha1.Case) error) (*cxv1alpha1.Case, error) {
	c := &cxv1alpha1.Case{}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := s.client.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, c); err != nil {
			return err
		}
		before := c.DeepCopy()
		if err := change(c); err != nil {
			return err
		}
		return s.client.Patch(ctx, c, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	})
	return c, err
}

func casesCommand(connect connectFunc) *cobra.Command {
	var mine, overdue, all bool
	var template string
	cmd := &cobra.Command{
		Use:   "cases",
		Short: "List Cases: open ones by default, with how long until each is due",
		Example: `  kubectl cx cases -n acme-cx
  kubectl cx cases --mine --overdue
  kubectl cx cases --template installation-support --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := connect()
			if err != nil {
				return err
			}
			var me string
			if mine {
				if me, err = s.whoami(ctx); err != nil {
					return err
				}
			}
			var l cxv1alpha1.CaseList
			if err := s.client.List(ctx, &l, client.InNamespace(s.namespace)); err != nil {
				return err
			}
			now := s.now()
			var rows []cxv1alpha1.Case
			for _, c := range l.Items {
				switch {
				case !all && (c.Spec.State == cxv1alpha1.CaseClosed || c.Spec.State == cxv1alpha1.CaseResolved):
				case mine && c.Spec.Assignee != me:
				case overdue && (c.Status.DueAt == nil || c.Status.DueAt.After(now)):
				case template != "" && c.Spec.Template != template:
				default:
					rows = append(rows, c)
				}
			}
			sort.SliceStable(rows, func(i, j int) bool { return dueBefore(rows[i], rows[j]) })
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tTITLE\tCUSTOMER\tSEVERITY\tSTATE\tASSIGNEE\tDUE")
			for _, c := range rows {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, truncate(c.Spec.Title, 48), customer(&c),
					c.Spec.Severity, c.Spec.State, dash(c.Spec.Assignee), DueIn(&c, now))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if len(rows) == 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "No Cases found in namespace %s.\n", s.namespace)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&mine, "mine", false, "only Cases assigned to me")
	cmd.Flags().BoolVar(&overdue, "overdue", false, "only Cases past their due time")
	cmd.Flags().StringVar(&template, "template", "", "only Cases of this CaseTemplate")
	cmd.Flags().BoolVarP(&all, "all", "A", false, "include Resolved and Closed Cases")
	return cmd
}

func dueBefore(a, b cxv1alpha1.Case) bool {
	switch {
	case a.Status.DueAt == nil:
		return false
	case b.Status.DueAt == nil:
		return true
	}
	return a.Status.DueAt.Before(b.Status.DueAt)
}

// DueIn says when a Case is due, for a person: "in 3h", "2d 4h overdue",
// "closed", or "-" without a deadline.
func DueIn(c *cxv1alpha1.Case, now time.Time) string {
	switch {
	case c.Spec.State == cxv1alpha1.CaseClosed:
		return "closed"
	case c.Spec.State == cxv1alpha1.CaseResolved:
		return "resolved"
	case c.Status.DueAt == nil:
		return "-"
	}
	d := c.Status.DueAt.Sub(now)
	if d >= 0 {
		return "in " + human(d)
	}
	return human(-d) + " overdue"
}

// human is a duration in its two largest units: 2d 4h, 3h 5m, 45s.
func human(d time.Duration) string {
	d = d.Round(time.Second)
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	hours := d / time.Hour
	d -= hours * time.Hour
	minutes := d / time.Minute
	seconds := (d - minutes*time.Minute) / time.Second
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, minutes)
	case minutes > 0:
		return fmt.Sprintf("%dm", minutes)
	}
	return fmt.Sprintf("%ds", seconds)
}

func customer(c *cxv1alpha1.Case) string {
	if c.Spec.Customer == nil {
		return "-"
	}
	if c.Spec.Customer.Tier != "" {
		return c.Spec.Customer.ID + " (" + c.Spec.Customer.Tier + ")"
	}
	return c.Spec.Customer.ID
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func caseCommand(connect connectFunc, complete cobra.CompletionFunc) *cobra.Command {
	return &cobra.Command{
		Use:               "case NAME",
		Short:             "Show a Case: customer, the response that opened it, deadlines and its timeline",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: complete,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := connect()
			if err != nil {
				return err
			}
			c := &cxv1alpha1.Case{}
			if err := s.client.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: args[0]}, c); err != nil {
				return err
			}
			printCase(cmd.OutOrStdout(), c, s.now())
			return nil
		},
	}
}

func printCase(out io.Writer, c *cxv1alpha1.Case, now time.Time) {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s:\t%s\n", k, v)
		}
	}
	field("Case", c.Name)
	field("Title", c.Spec.Title)
	field("Customer", customer(c))
	if cu := c.Spec.Customer; cu != nil {
		field("Segment", cu.Segment)
	}
	field("Template", c.Spec.Template)
	field("Severity", string(c.Spec.Severity))
	field("State", string(c.Spec.State))
	field("Assignee", dash(c.Spec.Assignee))
	if c.Status.DueAt != nil {
		field("Due", c.Status.DueAt.UTC().Format(time.RFC3339)+" ("+DueIn(c, now)+")")
	}
	if src := c.Spec.Source; src != nil {
		field("Opened by", strings.Trim(fmt.Sprintf("rule %s on %s, response %s", src.Rule, src.Touchpoint, src.ResponseID), " "))
		if r := src.Response; r != nil {
			keys := make([]string, 0, len(r.Answers))
			for k := range r.Answers {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				field("  "+k, string(r.Answers[k].Raw))
			}
			if r.Comment != "" {
				field("  comment", fmt.Sprintf("%q", r.Comment))
			}
		}
	}
	if len(c.Spec.RelatedResponses) > 0 {
		field("Related", strings.Join(c.Spec.RelatedResponses, ", "))
	}
	if res := c.Spec.Resolution; res != nil {
		field("Root cause", res.RootCause)
		field("Summary", res.Summary)
		if res.CustomerRecovered != nil {
			field("Recovered", fmt.Sprint(*res.CustomerRecovered))
		}
	}
	_ = w.Flush()

	type event struct {
		at   time.Time
		text string
	}
	var events []event
	add := func(t *metav1.Time, text string) {
		if t != nil {
			events = append(events, event{t.Time, text})
		}
	}
	add(c.Status.OpenedAt, "opened")
	for _, a := range c.Spec.Actions {
		text := fmt.Sprintf("%s by %s", a.Type, a.By)
		if a.Text != "" {
			text += ": " + a.Text
		}
		add(&a.At, text)
	}
	for _, e := range c.Status.Escalations {
		add(&e.At, "escalated: "+e.Step)
	}
	add(c.Status.ClosedAt, "closed")
	sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	if len(events) > 0 {
		fmt.Fprintln(out, "\nTimeline:")
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		for _, e := range events {
			fmt.Fprintf(w, "  %s\t%s\n", e.at.UTC().Format(time.RFC3339), e.text)
		}
		_ = w.Flush()
	}
}

func actCommand(connect connectFunc, complete cobra.CompletionFunc) *cobra.Command {
	var typ, text string
	var spent string
	cmd := &cobra.Command{
		Use:   "act NAME --text TEXT",
		Short: "Add an entry to a Case's action log, by you, now",
		Example: `  kubectl cx act installation-support-4f1c2a9b0d3e --type CustomerContacted --text "Called; sent the offline installer"
  kubectl cx act installation-support-4f1c2a9b0d3e --text "Waiting on engineering" --time-spent 30m`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: complete,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, err := connect()
			if err != nil {
				return err
			}
			me, err := s.whoami(ctx)
			if err != nil {
				return err
			}
			action := cxv1alpha1.CaseAction{At: metav1.NewTime(s.now().UTC().Truncate(time.Second)), By: me, Type: cxv1alpha1.ActionType(typ), Text: text}
			if spent != "" {
				d, err := cxv1alpha1.ParseDuration(spent)
				if err != nil {
					return fmt.Errorf("--time-spent: %w", err)
				}
				action.TimeSpent = &cxv1alpha1.Duration{Duration: d}
			}
			c, err := s.update(ctx, args[0], func(c *cxv1alpha1.Case) error {
				c.Spec.Actions = append(c.Spec.Actions, action)
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "case/%s: %s by %s recorded\n", c.Name, typ, me)
			return nil
		},
	}
	cmd.Flags().StringVar(&typ, "type", string(cxv1alpha1.ActionNote), "Note, CustomerContacted, Reassigned, StateChanged or Escalated")
	cmd.Flags().StringVar(&text, "text", "", "what was done")
	cmd.Flags().StringVar(&spent, "time-spent", "", "time spent, such as 30m or 1h30m")
	_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"Note", "CustomerContacted", "Reassigned", "StateChanged", "Escalated"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

var states = []string{"InProgress", "PendingCustomer", "Resolved", "Closed", "Reopened"}

func moveCommand(connect connectFunc, complete cobra.CompletionFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "move NAME STATE",
		Short: "Move a Case to another state (InProgress, PendingCustomer, Resolved, Reopened)",
		Args:  cobra.ExactArgs(2),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return states, cobra.ShellCompDirectiveNoFileComp
			}
			return complete(cmd, args, s)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := connect()
			if err != nil {
				return err
			}
			c, err := s.update(cmd.Context(), args[0], func(c *cxv1alpha1.Case) error {
				c.Spec.State = cxv1alpha1.CaseState(args[1])
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "case/%s moved to %s\n", c.Name, c.Spec.State)
			return nil
		},
	}
}

func takeCommand(connect connectFunc, complete cobra.CompletionFunc) *cobra.Command {
	return &cobra.Command{
		Use:               "take NAME",
		Short:             "Assign a Case to yourself",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: complete,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := connect()
			if err != nil {
				return err
			}
			me, err := s.whoami(cmd.Context())
			if err != nil {
				return err
			}
			return assign(cmd, s, args[0], me)
		},
	}
}

func assignCommand(connect connectFunc, complete cobra.CompletionFunc) *cobra.Command {
	return &cobra.Command{
		Use:               "assign NAME USER",
		Short:             "Assign a Case to someone (case managers)",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: complete,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := connect()
			if err != nil {
				return err
			}
			return assign(cmd, s, args[0], args[1])
		},
	}
}

func assign(cmd *cobra.Command, s *session, name, to string) error {
	c, err := s.update(cmd.Context(), name, func(c *cxv1alpha1.Case) error {
		c.Spec.Assignee = to
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "case/%s assigned to %s\n", c.Name, to)
	return nil
}

func closeCommand(connect connectFunc, complete cobra.CompletionFunc) *cobra.Command {
	var rootCause, summary, recovered string
	cmd := &cobra.Command{
		Use:   "close NAME --root-cause CAUSE --summary TEXT [--recovered=true|false]",
		Short: "Close a Case with its resolution (case managers); an open Case is resolved first",
		Example: `  kubectl cx close installation-support-4f1c2a9b0d3e --root-cause documentation-gap \
    --summary "Sent the offline installer guide" --recovered=true`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: complete,
		RunE: func(cmd *cobra.Command, args []string) error {
			if rootCause == "" || summary == "" {
				return errors.New("closing needs --root-cause (one of the template's closure.rootCauses) and --summary")
			}
			res := cxv1alpha1.Resolution{RootCause: rootCause, Summary: summary}
			switch recovered {
			case "":
			case "true", "false":
				v := recovered == "true"
				res.CustomerRecovered = &v
			default:
				return fmt.Errorf("--recovered=%q: use true or false", recovered)
			}
			s, err := connect()
			if err != nil {
				return err
			}
			// Resolved first when the Case is still open: the state machine
			// closes only Resolved Cases.
			c, err := s.update(cmd.Context(), args[0], func(c *cxv1alpha1.Case) error {
				c.Spec.Resolution = &res
				if c.Spec.State != cxv1alpha1.CaseResolved && c.Spec.State != cxv1alpha1.CaseClosed {
					c.Spec.State = cxv1alpha1.CaseResolved
				}
				return nil
			})
			if err != nil {
				return err
			}
			c, err = s.update(cmd.Context(), c.Name, func(c *cxv1alpha1.Case) error {
				c.Spec.State = cxv1alpha1.CaseClosed
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "case/%s closed (%s)\n", c.Name, rootCause)
			return nil
		},
	}
	cmd.Flags().StringVar(&rootCause, "root-cause", "", "root cause, one of the template's closure.rootCauses")
	cmd.Flags().StringVar(&summary, "summary", "", "what resolved it")
	cmd.Flags().StringVar(&recovered, "recovered", "", "whether the customer recovered: true or false")
	return cmd
}

func reportCommand(connect connectFunc) *cobra.Command {
	report := &cobra.Command{Use: "report", Short: "Work with ReportSubscriptions"}
	report.AddCommand(&cobra.Command{
		Use:   "run NAME",
		Short: "Run a report now (also while suspended); the manager delivers it to its channels",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := connect()
			if err != nil {
				return err
			}
			rs := &cxv1alpha1.ReportSubscription{}
			if err := s.client.Get(cmd.Context(), types.NamespacedName{Namespace: s.namespace, Name: args[0]}, rs); err != nil {
				return err
			}
			before := rs.DeepCopy()
			if rs.Annotations == nil {
				rs.Annotations = map[string]string{}
			}
			trigger := s.now().UTC().Format(time.RFC3339Nano)
			rs.Annotations[RunNowAnnotation] = trigger
			if err := s.client.Patch(cmd.Context(), rs, client.MergeFrom(before)); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reportsubscription/%s: run requested (%s=%s); see its status.lastRunTime and lastResult\n", rs.Name, RunNowAnnotation, trigger)
			return nil
		},
	})
	return report
}

func validateCommand(streams IO) *cobra.Command {
	return &cobra.Command{
		Use:                "validate -f PATH...",
		Short:              "Check a program offline, as applying it would (same as cxloop validate)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return programcheck.Command(cmd.Context(), args, streams.In, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}

func testCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "test FILE|FOLDER...",
		Short:              "Run a program's unit tests offline (same as cxloop test)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return programtest.Command(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}

func backtestCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "backtest -f PATH... --collector URL --token-secret NAMESPACE/NAME [--window 30d]",
		Short:              "Replay a collector's stored responses against a changed rule; changes nothing (same as cxloop backtest)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return programtest.Backtest(cmd.Context(), args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}
