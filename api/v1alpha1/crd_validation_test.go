package v1alpha1_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/testenv"
)

// env is one real etcd + kube-apiserver with the CRDs of config/crd/bases,
// shared by the tests of this package. Its client uses strict field
// validation, as kubectl apply does.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, "./api/...") }

var (
	samplesDir    = testenv.SamplesDir
	invalidDir    = filepath.Join(samplesDir, "invalid")
	controllerDir = filepath.Join(invalidDir, "controller")
)

// TestSamplesApply applies config/samples (what `kubectl apply -k` does,
// file by file) to a fresh namespace, and checks that the kustomization lists
// every file and that the program is consistent: every name a manifest refers
// to exists in the samples.
func TestSamplesApply(t *testing.T) {
	ctx := context.Background()

	resources := testenv.KustomizationResources(t)
	var files []string
	for _, f := range testenv.YAMLFiles(t, samplesDir) {
		files = append(files, filepath.Base(f))
	}
	listed := slices.Clone(resources)
	sort.Strings(listed)
	if !slices.Equal(listed, files) {
		t.Fatalf("config/samples/kustomization.yaml resources %v\ndo not match the files %v", listed, files)
	}

	for _, f := range files {
		for _, doc := range testenv.ReadManifest(t, filepath.Join(samplesDir, f)).Docs {
			if doc.GetNamespace() != "" || doc.GetKind() == "Namespace" {
				t.Errorf("%s: %s %q sets a namespace; samples take the namespace of kubectl -n", f, doc.GetKind(), doc.GetName())
			}
		}
	}

	ns := env.Namespace(t)
	env.ApplySamples(ctx, t, ns)
	if t.Failed() {
		return
	}
	checkReferences(ctx, t, ns)
}

// checkReferences checks that the objects of a program refer only to
// objects, keys and question ids that exist in it. The CRD schema cannot
// check this (the controllers report it in status); the samples must get it
// right.
func checkReferences(ctx context.Context, t *testing.T, ns string) {
	t.Helper()
	in := client.InNamespace(ns)
	var (
		touchpoints cxv1.SurveyTouchpointList
		rules       cxv1.AlertRuleList
		templates   cxv1.CaseTemplateList
		cases       cxv1.CaseList
		reports     cxv1.ReportSubscriptionList
		channels    cxv1.NotificationChannelList
		secrets     corev1.SecretList
	)
	for _, l := range []client.ObjectList{&touchpoints, &rules, &templates, &cases, &reports, &channels, &secrets} {
		if err := env.Client.List(ctx, l, in); err != nil {
			t.Fatalf("list: %v", err)
		}
	}

	touchpointByName := map[string]cxv1.SurveyTouchpoint{}
	for _, tp := range touchpoints.Items {
		touchpointByName[tp.Name] = tp
	}
	channelNames := map[string]bool{}
	for _, c := range channels.Items {
		channelNames[c.Name] = true
	}
	templateNames := map[string]bool{}
	for _, ct := range templates.Items {
		templateNames[ct.Name] = true
	}
	secretKeys := map[string]map[string]bool{}
	for _, s := range secrets.Items {
		secretKeys[s.Name] = map[string]bool{}
		for k := range s.Data {
			secretKeys[s.Name][k] = true
		}
	}

	secretKey := func(where string, ref *cxv1.SecretKeyReference) {
		if ref == nil {
			return
		}
		if !secretKeys[ref.Name][ref.Key] {
			t.Errorf("%s: Secret %q has no key %q", where, ref.Name, ref.Key)
		}
	}
	secret := func(where, name string, keys ...string) {
		if secretKeys[name] == nil {
			t.Errorf("%s: no Secret %q", where, name)
		}
		for _, k := range keys {
			if !secretKeys[name][k] {
				t.Errorf("%s: Secret %q has no key %q", where, name, k)
			}
		}
	}
	channel := func(where, name string) {
		if !channelNames[name] {
			t.Errorf("%s: no NotificationChannel %q", where, name)
		}
	}
	template := func(where, name string) {
		if !templateNames[name] {
			t.Errorf("%s: no CaseTemplate %q", where, name)
		}
	}
	selected := func(where string, sel cxv1.TouchpointSelection) []cxv1.SurveyTouchpoint {
		var out []cxv1.SurveyTouchpoint
		for _, n := range sel.Names {
			tp, ok := touchpointByName[n]
			if !ok {
				t.Errorf("%s: no SurveyTouchpoint %q", where, n)
				continue
			}
			out = append(out, tp)
		}
		if sel.Selector != nil {
			s, err := metav1.LabelSelectorAsSelector(sel.Selector)
			if err != nil {
				t.Errorf("%s: selector: %v", where, err)
				return out
			}
			n := 0
			for _, tp := range touchpoints.Items {
				if s.Matches(labels.Set(tp.Labels)) {
					out = append(out, tp)
					n++
				}
			}
			if n == 0 {
				t.Errorf("%s: selector %s matches no SurveyTouchpoint", where, s)
			}
		}
		return out
	}

	for _, tp := range touchpoints.Items {
		where := "SurveyTouchpoint " + tp.Name
		if inv := tp.Spec.Invitations; inv != nil {
			secretKey(where+" invitations.signingKeySecretRef", &inv.SigningKeySecretRef)
		}
		if st := tp.Spec.Storage; st != nil && st.Postgres != nil {
			secretKey(where+" storage.postgres.dsnSecretRef", &st.Postgres.DSNSecretRef)
		}
	}
	for _, c := range channels.Items {
		where := "NotificationChannel " + c.Name
		if e := c.Spec.Email; e != nil && e.SMTP.CredentialsSecretRef != nil {
			secret(where+" email.smtp.credentialsSecretRef", e.SMTP.CredentialsSecretRef.Name, "username", "password")
		}
		if s := c.Spec.Slack; s != nil {
			secretKey(where+" slack.webhookURLSecretRef", &s.WebhookURLSecretRef)
		}
		if s := c.Spec.Teams; s != nil {
			secretKey(where+" teams.webhookURLSecretRef", &s.WebhookURLSecretRef)
		}
		if w := c.Spec.Webhook; w != nil {
			secretKey(where+" webhook.signingSecretRef", &w.SigningSecretRef)
			secretKey(where+" webhook.urlSecretRef", w.URLSecretRef)
			if w.HeadersSecretRef != nil {
				secret(where+" webhook.headersSecretRef", w.HeadersSecretRef.Name)
			}
		}
	}

	answerRef := regexp.MustCompile(`\banswers\.([A-Za-z][A-Za-z0-9_]*)`)
	for _, r := range rules.Items {
		where := "AlertRule " + r.Name
		tps := selected(where+" touchpoints", r.Spec.Touchpoints)
		hasQuestion := func(id string) bool {
			for _, tp := range tps {
				for _, q := range tp.Spec.Questions {
					if q.ID == id {
						return true
					}
				}
			}
			return false
		}
		for _, m := range answerRef.FindAllStringSubmatch(r.Spec.Condition, -1) {
			if !hasQuestion(m[1]) {
				t.Errorf("%s: condition refers to answers.%s, which no selected touchpoint asks", where, m[1])
			}
		}
		if a := r.Spec.Aggregate; a != nil && a.Question != "" && !hasQuestion(a.Question) {
			t.Errorf("%s: aggregate.question %q is asked by no selected touchpoint", where, a.Question)
		}
		for _, n := range r.Spec.Actions.Notify {
			channel(where+" actions.notify", n.Channel)
		}
		if oc := r.Spec.Actions.OpenCase; oc != nil {
			template(where+" actions.openCase.template", oc.Template)
		}
	}

	for _, ct := range templates.Items {
		where := "CaseTemplate " + ct.Name
		users := map[string]bool{}
		for _, s := range append(slices.Clone(ct.Spec.Team.CaseManagers), ct.Spec.Team.Members...) {
			if s.Kind == cxv1.SubjectUser {
				users[s.Name] = true
			}
		}
		for _, r := range ct.Spec.Routes {
			if !users[r.Assignee] {
				t.Errorf("%s: route %q assigns to %q, who is not a user of the team", where, r.Name, r.Assignee)
			}
		}
		for _, e := range ct.Spec.Escalation {
			if e.Notify != nil {
				for _, c := range e.Notify.Channels {
					channel(where+" escalation "+e.Name, c)
				}
			}
		}
		for _, n := range ct.Spec.Notifications {
			for _, c := range n.To.Channels {
				channel(where+" notifications", c)
			}
		}
	}

	for _, c := range cases.Items {
		template("Case "+c.Name+" template", c.Spec.Template)
	}

	for _, r := range reports.Items {
		where := "ReportSubscription " + r.Name
		selected(where+" touchpoints", r.Spec.Touchpoints)
		for _, c := range r.Spec.Channels {
			channel(where+" channels", c)
		}
		for _, ct := range r.Spec.CaseTemplates {
			template(where+" caseTemplates", ct)
		}
	}
}

// requiredInvalid are the validation rules that must each have a manifest
// in config/samples/invalid, so that deleting one fails this test.
var requiredInvalid = []string{
	"touchpoint-duplicate-question-id.yaml",
	"touchpoint-scale-min-not-below-max.yaml",
	"touchpoint-nps-scale-not-0-10.yaml",
	"touchpoint-sampling-rate-out-of-range.yaml",
	"touchpoint-quarantine-zero.yaml",
	"casetemplate-closure-goal-zero.yaml",
	"casetemplate-closure-goal-negative.yaml",
	"alertrule-aggregate-window-zero.yaml",
	"alertrule-neither-condition-nor-aggregate.yaml",
	"alertrule-both-condition-and-aggregate.yaml",
	"alertrule-no-action.yaml",
	"casetemplate-no-case-manager.yaml",
	"casetemplate-duplicate-tier.yaml",
	"casetemplate-acknowledgement-without-text.yaml",
	"casetemplate-follow-up-sms-yes-without-no.yaml",
	"case-closed-without-resolution.yaml",
	"case-transition-open-to-closed.yaml",
	"case-transition-closed-to-in-progress.yaml",
	"case-action-log-edited.yaml",
	"case-template-changed.yaml",
	"notificationchannel-type-block-missing.yaml",
	"notificationchannel-two-blocks.yaml",
	"notificationchannel-slack-webhook-url-inline.yaml",
	"notificationchannel-webhook-url-with-credentials.yaml",
}

// TestInvalidManifestsRejected applies each manifest of config/samples/invalid
// to a fresh namespace. All documents but the last must be accepted (they set
// up the state an update starts from); the last must be rejected with a
// message containing the "# field:" and every "# expect:" line of the file's
// leading comment.
func TestInvalidManifestsRejected(t *testing.T) {
	ctx := context.Background()
	files := testenv.YAMLFiles(t, invalidDir)
	for _, want := range requiredInvalid {
		if !slices.Contains(files, filepath.Join(invalidDir, want)) {
			t.Errorf("config/samples/invalid/%s is missing", want)
		}
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			m := testenv.ReadManifest(t, path)
			fields, expects := m.Header["field"], m.Header["expect"]
			if len(fields) != 1 || len(expects) == 0 {
				t.Fatalf("%s needs one '# field: <path>' line and at least one '# expect: <message fragment>' line in its leading comment", path)
			}
			ns := env.Namespace(t)
			seen := map[testenv.ObjectKey]bool{}
			for _, doc := range m.Docs[:len(m.Docs)-1] {
				if err := env.Apply(ctx, ns, doc, seen); err != nil {
					t.Fatalf("setup document %s %q must be accepted: %v", doc.GetKind(), doc.GetName(), err)
				}
			}
			last := m.Docs[len(m.Docs)-1]
			err := env.Apply(ctx, ns, last, seen)
			if err == nil {
				t.Fatalf("%s %q was accepted; want it rejected with %q", last.GetKind(), last.GetName(), expects)
			}
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Fatalf("want a validation error (422 Invalid or 400 BadRequest), got %v", err)
			}
			msg := err.Error()
			for _, want := range append([]string{fields[0]}, expects...) {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not contain %q:\n%s", want, msg)
				}
			}
		})
	}
}

// TestControllerCheckedManifestsAccepted applies config/samples and then each
// manifest of config/samples/invalid/controller: the CRD cannot see what is
// wrong with them, so the API server accepts them and the controllers must
// report it (asserted by the controller tests, from the same files).
func TestControllerCheckedManifestsAccepted(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	env.ApplySamples(ctx, t, ns)
	files := testenv.YAMLFiles(t, controllerDir)
	if len(files) == 0 {
		t.Fatal("config/samples/invalid/controller holds no manifest")
	}
	readme, err := os.ReadFile(filepath.Join(controllerDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	condition := regexp.MustCompile(`^Ready=False reason=[A-Z][A-Za-z]+$`)
	for _, path := range files {
		m := testenv.ReadManifest(t, path)
		name := filepath.Base(path)
		if c := m.Header["expect-condition"]; len(c) != 1 || !condition.MatchString(c[0]) {
			t.Errorf("%s: want one '# expect-condition: Ready=False reason=<Reason>' line, got %q", name, c)
		}
		if len(m.Header["expect-message"]) == 0 {
			t.Errorf("%s: want at least one '# expect-message: <fragment>' line", name)
		}
		if !strings.Contains(string(readme), name) {
			t.Errorf("%s is not listed in config/samples/invalid/controller/README.md", name)
		}
		env.ApplyFile(ctx, t, ns, m)
	}
}

// allowedMoves is the state machine of CaseState's documentation.
var allowedMoves = map[cxv1.CaseState][]cxv1.CaseState{
	cxv1.CaseOpen:            {cxv1.CaseInProgress, cxv1.CasePendingCustomer, cxv1.CaseResolved},
	cxv1.CaseInProgress:      {cxv1.CasePendingCustomer, cxv1.CaseResolved},
	cxv1.CasePendingCustomer: {cxv1.CaseInProgress, cxv1.CaseResolved},
	cxv1.CaseResolved:        {cxv1.CaseClosed, cxv1.CaseReopened},
	cxv1.CaseClosed:          {cxv1.CaseReopened},
	cxv1.CaseReopened:        {cxv1.CaseInProgress, cxv1.CasePendingCustomer, cxv1.CaseResolved},
}

func newCase(ns, name string, state cxv1.CaseState) *cxv1.Case {
	return &cxv1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1.CaseSpec{
			Template: "installation-support",
			Customer: &cxv1.Customer{ID: "CUST-1", Tier: "Gold"},
			State:    state,
			Resolution: &cxv1.Resolution{
				RootCause: "documentation-gap",
				Summary:   "Sent the offline installer guide.",
			},
		},
	}
}

// TestCaseStateTransitions moves a Case between every pair of states: the
// API server accepts exactly the moves of the documented state machine and
// names both states when it refuses one.
func TestCaseStateTransitions(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	states := []cxv1.CaseState{cxv1.CaseOpen, cxv1.CaseInProgress, cxv1.CasePendingCustomer, cxv1.CaseResolved, cxv1.CaseClosed, cxv1.CaseReopened}
	for _, from := range states {
		for _, to := range states {
			if from == to {
				continue
			}
			name := strings.ToLower(fmt.Sprintf("move-%s-%s", from, to))
			c := newCase(ns, name, from)
			// A Case may be created in any state (for example when restored
			// from an archive); only moves are checked.
			if err := env.Client.Create(ctx, c); err != nil {
				t.Fatalf("create Case in state %s: %v", from, err)
			}
			c.Spec.State = to
			err := env.Client.Update(ctx, c)
			allowed := slices.Contains(allowedMoves[from], to)
			switch {
			case allowed && err != nil:
				t.Errorf("%s -> %s must be allowed: %v", from, to, err)
			case !allowed && err == nil:
				t.Errorf("%s -> %s must be refused, was accepted", from, to)
			case !allowed:
				want := fmt.Sprintf("spec.state: Forbidden: state cannot move from %s to %s", from, to)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s -> %s: error does not contain %q:\n%v", from, to, want, err)
				}
			}
		}
	}
}

// TestCaseClosing: closing needs a root cause and a summary, also when the
// move itself is allowed.
func TestCaseClosing(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	for _, tc := range []struct {
		name       string
		resolution *cxv1.Resolution
		ok         bool
	}{
		{"no-resolution", nil, false},
		{"no-root-cause", &cxv1.Resolution{Summary: "Fixed."}, false},
		{"no-summary", &cxv1.Resolution{RootCause: "user-error"}, false},
		{"complete", &cxv1.Resolution{RootCause: "user-error", Summary: "Walked them through it."}, true},
	} {
		c := newCase(ns, "close-"+tc.name, cxv1.CaseResolved)
		c.Spec.Resolution = nil
		if err := env.Client.Create(ctx, c); err != nil {
			t.Fatalf("%s: create Resolved Case: %v", tc.name, err)
		}
		c.Spec.State, c.Spec.Resolution = cxv1.CaseClosed, tc.resolution
		err := env.Client.Update(ctx, c)
		if tc.ok && err != nil {
			t.Errorf("%s: closing must be accepted: %v", tc.name, err)
		}
		if !tc.ok {
			if err == nil {
				t.Errorf("%s: closing must be refused", tc.name)
			} else if want := "spec.resolution: Invalid value: resolution.rootCause and resolution.summary are required"; !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error does not contain %q:\n%v", tc.name, want, err)
			}
		}
	}
}

// TestCaseActionLogAppendOnly: entries may only be added at the end.
func TestCaseActionLogAppendOnly(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	at := func(h int) metav1.Time {
		return metav1.NewTime(time.Date(2026, 3, 2, h, 0, 0, 0, time.UTC))
	}
	a := cxv1.CaseAction{At: at(9), By: "priya.nair", Type: cxv1.ActionCustomerContacted, Text: "Left a voicemail."}
	b := cxv1.CaseAction{At: at(10), By: "priya.nair", Type: cxv1.ActionNote, Text: "Collecting logs."}
	c := cxv1.CaseAction{At: at(11), By: "maria.lopez", Type: cxv1.ActionReassigned, Text: "To tier 2."}
	edited := a
	edited.Text = "Reached the customer at once."

	for _, tc := range []struct {
		name     string
		old, new []cxv1.CaseAction
		ok       bool
	}{
		{"append", []cxv1.CaseAction{a}, []cxv1.CaseAction{a, b}, true},
		{"first-entry", nil, []cxv1.CaseAction{a}, true},
		{"unchanged", []cxv1.CaseAction{a, b}, []cxv1.CaseAction{a, b}, true},
		{"edit", []cxv1.CaseAction{a, b}, []cxv1.CaseAction{edited, b}, false},
		{"remove-last", []cxv1.CaseAction{a, b}, []cxv1.CaseAction{a}, false},
		{"remove-all", []cxv1.CaseAction{a}, nil, false},
		{"insert-before", []cxv1.CaseAction{a, b}, []cxv1.CaseAction{a, c, b}, false},
		{"reorder", []cxv1.CaseAction{a, b}, []cxv1.CaseAction{b, a}, false},
	} {
		obj := newCase(ns, "log-"+tc.name, cxv1.CaseInProgress)
		obj.Spec.Actions = tc.old
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("%s: create: %v", tc.name, err)
		}
		obj.Spec.Actions = tc.new
		obj.Spec.Assignee = "priya.nair"
		err := env.Client.Update(ctx, obj)
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s: must be accepted: %v", tc.name, err)
		case !tc.ok && err == nil:
			t.Errorf("%s: must be refused, was accepted", tc.name)
		case !tc.ok:
			if want := "spec.actions: Invalid value: actions is an append-only log"; !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error does not contain %q:\n%v", tc.name, want, err)
			}
		}
	}
}

// TestCaseSourceImmutable: the record of what opened a Case cannot be
// rewritten, added or removed.
func TestCaseSourceImmutable(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	source := func() *cxv1.CaseSource {
		return &cxv1.CaseSource{Rule: "installation-failed", RuleKind: cxv1.AlertEscalation, Touchpoint: "upgrade-install", ResponseID: "r-1"}
	}
	for _, tc := range []struct {
		name     string
		old, new *cxv1.CaseSource
	}{
		{"change", source(), &cxv1.CaseSource{Rule: "installation-hard", RuleKind: cxv1.AlertEscalation, Touchpoint: "upgrade-install", ResponseID: "r-1"}},
		{"add", nil, source()},
		{"remove", source(), nil},
	} {
		obj := newCase(ns, "source-"+tc.name, cxv1.CaseOpen)
		obj.Spec.Source = tc.old
		if err := env.Client.Create(ctx, obj); err != nil {
			t.Fatalf("%s: create: %v", tc.name, err)
		}
		obj.Spec.Source = tc.new
		err := env.Client.Update(ctx, obj)
		if want := "spec.source: Invalid value: source is immutable"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want an error containing %q, got %v", tc.name, want, err)
		}
	}
}

// TestAPIFieldsDocumented is `kubectl explain` for every field: it reads the
// OpenAPI v3 document the API server publishes for cx.cxloop.io/v1alpha1
// (what kubectl explain shows) and requires a description on every kind and
// on every property under spec and status, recursively.
func TestAPIFieldsDocumented(t *testing.T) {
	kinds := []string{"SurveyTouchpoint", "AlertRule", "CaseTemplate", "Case", "ReportSubscription", "NotificationChannel"}
	dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}

	// The API server publishes CRD schemas asynchronously; wait for all kinds.
	var schemas map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for {
		schemas, err = openAPISchemas(dc)
		missing := 0
		for _, k := range kinds {
			if _, ok := schemas["io.cxloop.cx.v1alpha1."+k]; !ok {
				missing++
			}
		}
		if err == nil && missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("OpenAPI v3 document for cx.cxloop.io/v1alpha1 incomplete after 60s (%d kinds missing): %v", missing, err)
		}
		time.Sleep(250 * time.Millisecond)
	}

	for _, k := range kinds {
		s, _ := schemas["io.cxloop.cx.v1alpha1."+k].(map[string]any)
		if d, _ := s["description"].(string); strings.TrimSpace(d) == "" {
			t.Errorf("kind %s has no description", k)
		}
		props, _ := s["properties"].(map[string]any)
		for _, top := range []string{"spec", "status"} {
			sub, ok := props[top].(map[string]any)
			if !ok {
				t.Errorf("%s has no %s in its published schema", k, top)
				continue
			}
			var undocumented []string
			n := walkDescriptions(schemas, sub, strings.ToLower(k)+"."+top, &undocumented, map[string]bool{})
			if n < 3 {
				t.Errorf("%s.%s: only %d properties found; the walk is broken", k, top, n)
			}
			if d, _ := sub["description"].(string); strings.TrimSpace(d) == "" {
				undocumented = append(undocumented, strings.ToLower(k)+"."+top)
			}
			for _, p := range undocumented {
				t.Errorf("field %s has no description (kubectl explain %s shows nothing); document it in api/v1alpha1", p, p)
			}
		}
	}
}

func openAPISchemas(dc *discovery.DiscoveryClient) (map[string]any, error) {
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		return nil, err
	}
	gv, ok := paths["apis/cx.cxloop.io/v1alpha1"]
	if !ok {
		return nil, fmt.Errorf("no OpenAPI v3 path for cx.cxloop.io/v1alpha1")
	}
	raw, err := gv.Schema(runtime.ContentTypeJSON)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	return doc.Components.Schemas, nil
}

// walkDescriptions appends the path of every property without a description
// below schema and returns how many properties it saw. It follows items,
// additionalProperties and $ref (through allOf), once per referenced schema.
func walkDescriptions(all map[string]any, schema map[string]any, path string, undocumented *[]string, visited map[string]bool) int {
	n := 0
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := schema[key].([]any)
		for _, item := range list {
			if s, ok := item.(map[string]any); ok {
				n += walkDescriptions(all, s, path, undocumented, visited)
			}
		}
	}
	if ref, ok := schema["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		if s, ok := all[name].(map[string]any); ok && !visited[name] {
			visited[name] = true
			n += walkDescriptions(all, s, path, undocumented, visited)
		}
	}
	props, _ := schema["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p, _ := props[name].(map[string]any)
		n++
		child := path + "." + name
		if d, _ := p["description"].(string); strings.TrimSpace(d) == "" {
			*undocumented = append(*undocumented, child)
		}
		n += walkDescriptions(all, p, child, undocumented, visited)
	}
	if items, ok := schema["items"].(map[string]any); ok {
		n += walkDescriptions(all, items, path, undocumented, visited)
	}
	if ap, ok := schema["additionalProperties"].(map[string]any); ok {
		n += walkDescriptions(all, ap, path, undocumented, visited)
	}
	return n
}

// createYAML creates the object of a YAML document in ns and reads it back
// into out, so that the defaults the API server applied are visible.
func createYAML(t *testing.T, ns, doc string, out client.Object) {
	t.Helper()
	js, err := utilyaml.ToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := unstructured.UnstructuredJSONScheme.Decode(js, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		t.Fatalf("decoded a %T, want one object", obj)
	}
	u.SetNamespace(ns)
	ctx := context.Background()
	if err := env.Client.Create(ctx, u); err != nil {
		t.Fatalf("create %s %q: %v", u.GetKind(), u.GetName(), err)
	}
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: u.GetName()}, out); err != nil {
		t.Fatal(err)
	}
}

func check[T comparable](t *testing.T, field string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s defaulted to %v, want %v", field, got, want)
	}
}

func dur(d time.Duration) cxv1.Duration { return cxv1.Duration{Duration: d} }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestDefaults creates minimal objects and checks the defaults the API
// server fills in, including defaults of nested blocks given empty.
func TestDefaults(t *testing.T) {
	ns := env.Namespace(t)

	t.Run("SurveyTouchpoint", func(t *testing.T) {
		var tp cxv1.SurveyTouchpoint
		createYAML(t, ns, `
apiVersion: cx.cxloop.io/v1alpha1
kind: SurveyTouchpoint
metadata: {name: minimal}
spec:
  channel: Web
  questions:
  - {id: recommend, text: "How likely are you to recommend us?", type: NPS}
`, &tp)
		s := tp.Spec
		if s.Comment == nil || s.Collector == nil || s.Storage == nil || s.Retention == nil || s.TextAnalytics == nil {
			t.Fatalf("blocks not defaulted: %+v", s)
		}
		check(t, "comment.enabled", s.Comment.Enabled, true)
		check(t, "comment.maxLength", s.Comment.MaxLength, int32(2000))
		check(t, "collector.replicas", deref(s.Collector.Replicas), int32(1))
		check(t, "storage.type", s.Storage.Type, cxv1.StorageEmbedded)
		check(t, "retention.responses", deref(s.Retention.Responses), dur(8760*time.Hour))
		check(t, "retention.contactDetails", deref(s.Retention.ContactDetails), dur(2160*time.Hour))
		check(t, "textAnalytics.sentiment", s.TextAnalytics.Sentiment, true)
		check(t, "contactPolicy", s.ContactPolicy == nil, true)

		var nested cxv1.SurveyTouchpoint
		createYAML(t, ns, `
apiVersion: cx.cxloop.io/v1alpha1
kind: SurveyTouchpoint
metadata: {name: nested}
spec:
  channel: Web
  questions:
  - {id: recommend, text: "How likely are you to recommend us?", type: NPS}
  comment: {enabled: false}
  contactPolicy: {}
  invitations: {signingKeySecretRef: {name: keys, key: k}}
  storage: {embedded: {}}
  retention: {responses: 720h}
`, &nested)
		s = nested.Spec
		check(t, "comment.enabled (given false)", s.Comment.Enabled, false)
		check(t, "comment.maxLength (comment given)", s.Comment.MaxLength, int32(2000))
		check(t, "contactPolicy.samplingRate", deref(s.ContactPolicy.SamplingRate), 1.0)
		check(t, "contactPolicy.scope", s.ContactPolicy.Scope, cxv1.ContactScopeTouchpoint)
		check(t, "invitations.tokenTTL", deref(s.Invitations.TokenTTL), dur(168*time.Hour))
		check(t, "storage.type (storage given)", s.Storage.Type, cxv1.StorageEmbedded)
		if size := s.Storage.Embedded.Size; size == nil || size.String() != "1Gi" {
			t.Errorf("storage.embedded.size defaulted to %v, want 1Gi", size)
		}
		check(t, "retention.contactDetails (retention given)", deref(s.Retention.ContactDetails), dur(2160*time.Hour))
	})

	t.Run("AlertRule", func(t *testing.T) {
		var r cxv1.AlertRule
		createYAML(t, ns, `
apiVersion: cx.cxloop.io/v1alpha1
kind: AlertRule
metadata: {name: minimal}
spec:
  touchpoints: {names: [upgrade-install]}
  condition: answers.completed == false
  actions: {notify: [{channel: support-slack}]}
`, &r)
		check(t, "kind", r.Spec.Kind, cxv1.AlertEscalation)

		var agg cxv1.AlertRule
		createYAML(t, ns, `
apiVersion: cx.cxloop.io/v1alpha1
kind: AlertRule
metadata: {name: aggregate}
spec:
  touchpoints: {selector: {}}
  aggregate: {metric: NPS, window: 24h, condition: "value < 30.0"}
  actions: {notify: [{channel: support-slack}]}
`, &agg)
		check(t, "aggregate.every", deref(agg.Spec.Aggregate.Every), dur(5*time.Minute))
		check(t, "aggregate.minResponses", agg.Spec.Aggregate.MinResponses, int32(30))
	})

	t.Run("CaseTemplate", func(t *testing.T) {
		var ct cxv1.CaseTemplate
		createYAML(t, ns, `
apiVersion: cx.cxloop.io/v1alpha1
kind: CaseTemplate
metadata: {name: minimal}
spec:
  category: installation
  team: {caseManagers: [{name: maria.lopez}]}
  escalation: [{name: overdue, after: 0s, notify: {caseManagers: true}}]
  closure: {rootCauses: [user-error]}
`, &ct)
		s := ct.Spec
		if s.DefaultPolicy == nil {
			t.Fatal("defaultPolicy not defaulted")
		}
		check(t, "defaultPolicy.severity", s.DefaultPolicy.Severity, cxv1.SeverityNormal)
		check(t, "defaultPolicy.closureGoal", s.DefaultPolicy.ClosureGoal, dur(72*time.Hour))
		check(t, "customerDetail", s.CustomerDetail, cxv1.CustomerDetailIDAndTier)
		check(t, "retention", deref(s.Retention), dur(720*time.Hour))
		check(t, "team.caseManagers[0].kind", s.Team.CaseManagers[0].Kind, cxv1.SubjectUser)
		check(t, "escalation[0].trigger", s.Escalation[0].Trigger, cxv1.TriggerOverdue)
	})

	t.Run("Case", func(t *testing.T) {
		var c cxv1.Case
		createYAML(t, ns, `
apiVersion: cx.cxloop.io/v1alpha1
kind: Case
metadata: {name: minimal}
spec: {template: installation-support}
`, &c)
		check(t, "state", c.Spec.State, cxv1.CaseOpen)
	})

	t.Run("ReportSubscription", func(t *testing.T) {
		var r cxv1.ReportSubscription
		createYAML(t, ns, `
apiVersion: cx.cxloop.io/v1alpha1
kind: ReportSubscription
metadata: {name: minimal}
spec:
  schedule: "@weekly"
  touchpoints: {names: [upgrade-install]}
  segments: {groupBy: customer.tier}
  channels: [cross-functional-email]
`, &r)
		s := r.Spec
		check(t, "timeZone", s.TimeZone, "UTC")
		check(t, "startingDeadline", deref(s.StartingDeadline), dur(time.Hour))
		check(t, "window", deref(s.Window), dur(168*time.Hour))
		check(t, "compareWith", s.CompareWith, cxv1.ComparePreviousWindow)
		check(t, "sections", fmt.Sprint(s.Sections), "[KPIs Trend Cases]")
		if s.Trend == nil {
			t.Fatal("trend not defaulted")
		}
		check(t, "trend.period", s.Trend.Period, cxv1.TrendWeek)
		check(t, "trend.periods", s.Trend.Periods, int32(8))
		check(t, "segments.top", s.Segments.Top, int32(3))
		check(t, "segments.minResponses", s.Segments.MinResponses, int32(10))
	})

	t.Run("NotificationChannel", func(t *testing.T) {
		var c cxv1.NotificationChannel
		createYAML(t, ns, `
apiVersion: cx.cxloop.io/v1alpha1
kind: NotificationChannel
metadata: {name: minimal}
spec:
  type: Email
  email:
    smtp: {host: smtp.acme.example}
    from: cx@acme.example
`, &c)
		check(t, "rateLimitPerMinute", c.Spec.RateLimitPerMinute, int32(60))
		check(t, "email.smtp.port", c.Spec.Email.SMTP.Port, int32(587))
		check(t, "email.smtp.security", c.Spec.Email.SMTP.Security, cxv1.SMTPStartTLS)
	})
}
