package install_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Users of the access test. Everyone has RBAC to update Cases (group
// cx-operators bound to case-editor-role); the admission policies decide the
// rest from the CaseTemplate's team and the custom verbs.
const (
	operators   = "cx-operators"  // group with update on cases
	supportLead = "support-leads" // group named in the template's caseManagers
	maria       = "maria"         // user named in caseManagers
	priya       = "priya"         // user named in members
	sam         = "sam"           // in group support-leads
	olaf        = "olaf"          // not on the team, update RBAC only
	carol       = "carol"         // not on the team, bound to cx-case-manager
	wendy       = "wendy"         // not on the team, bound to cx-case-worker
	templateRef = "installation-support"
)

// TestCaseAccessPolicies installs the chart's admission policies for real and
// works Cases as impersonated users: the access hierarchy of issue 5.
//
// The policies' status.typeChecking is filled in by kube-controller-manager,
// which the test control plane does not run; instead every validation is
// exercised here both ways, and a CEL expression that fails at run time
// (a misspelt field) refuses the request (failurePolicy: Fail), so the
// allowed cases would fail.
func TestCaseAccessPolicies(t *testing.T) {
	ctx := context.Background()
	releaseNS := env.Namespace(t)
	const release = "access" // objects are named access-cxloop-...
	prefix := release + "-cxloop-"
	managerSA := prefix + "controller-manager"

	// The policies, and the roles the test binds, from the chart.
	keep := map[string]bool{
		prefix + "case-editor-role": true,
		prefix + "cx-case-manager":  true,
		prefix + "cx-case-worker":   true,
	}
	for _, u := range helmTemplate(t, release, releaseNS) {
		switch {
		case strings.HasPrefix(u.GetKind(), "ValidatingAdmissionPolicy"),
			u.GetKind() == "ClusterRole" && keep[u.GetName()]:
		default:
			continue
		}
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatalf("create %s: %v", describe(u), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), u) })
	}

	ns := env.Namespace(t)
	mustCreate(ctx, t, caseTemplate(ns, templateRef,
		[]cxv1.Subject{{Kind: cxv1.SubjectUser, Name: maria}, {Kind: cxv1.SubjectGroup, Name: supportLead}},
		// kind left to its default (User)
		[]cxv1.Subject{{Name: priya}}))
	// priya manages another template: that gives her nothing on Cases of
	// installation-support.
	mustCreate(ctx, t, caseTemplate(ns, "account-recovery", []cxv1.Subject{{Name: priya}}, nil))
	bind(ctx, t, ns, "operators", prefix+"case-editor-role", rbacv1.Subject{Kind: rbacv1.GroupKind, Name: operators})
	bind(ctx, t, ns, "manager", prefix+"case-editor-role", rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: managerSA, Namespace: releaseNS})
	bind(ctx, t, ns, "case-manager", prefix+"cx-case-manager", rbacv1.Subject{Kind: rbacv1.UserKind, Name: carol})
	bind(ctx, t, ns, "case-worker", prefix+"cx-case-worker", rbacv1.Subject{Kind: rbacv1.UserKind, Name: wendy})

	clients := map[string]client.Client{
		maria: as(t, maria, operators),
		priya: as(t, priya, operators),
		sam:   as(t, sam, operators, supportLead),
		olaf:  as(t, olaf, operators),
		carol: as(t, carol, operators),
		wendy: as(t, wendy, operators),
	}
	managerUser := fmt.Sprintf("system:serviceaccount:%s:%s", releaseNS, managerSA)
	clients["manager"] = as(t, managerUser, "system:serviceaccounts", "system:serviceaccounts:"+releaseNS)

	// Policies take effect a moment after they are created: wait until both
	// refuse what they must refuse (dry run, so nothing changes).
	probe := newCase(ctx, t, ns, cxv1.CaseOpen)
	waitForDenial(ctx, t, "severity change by a member", "spec.severity", func() error {
		c := probe.DeepCopy()
		c.Spec.Severity = cxv1.SeverityUrgent
		return clients[priya].Update(ctx, c, client.DryRunAll)
	})
	waitForDenial(ctx, t, "action by someone else", "by: "+priya, func() error {
		c := probe.DeepCopy()
		c.Spec.Actions = append(c.Spec.Actions, action(maria))
		return clients[priya].Update(ctx, c, client.DryRunAll)
	})

	updates := []struct {
		name    string
		user    string
		from    cxv1.CaseState
		change  func(*cxv1.Case)
		wantErr string // substring of the denial; empty: allowed
	}{
		{name: "member logs an action as herself", user: priya, from: cxv1.CaseOpen,
			change: addAction(priya)},
		{name: "member logs an action as someone else", user: priya, from: cxv1.CaseOpen,
			change: addAction(maria), wantErr: "a new action must have by: priya"},
		{name: "member moves the case between open states", user: priya, from: cxv1.CaseOpen,
			change: func(c *cxv1.Case) { c.Spec.State = cxv1.CaseInProgress }},
		{name: "member moves a resolved case back to work", user: priya, from: cxv1.CaseResolved,
			change: func(c *cxv1.Case) { c.Spec.State = cxv1.CaseReopened }},
		{name: "member changes the severity", user: priya, from: cxv1.CaseOpen,
			change: setSeverity(cxv1.SeverityUrgent), wantErr: "spec.severity: only a case manager of CaseTemplate installation-support"},
		{name: "member reassigns", user: priya, from: cxv1.CaseOpen,
			change: setAssignee(priya), wantErr: "spec.assignee: only a case manager"},
		{name: "member closes (she manages another template)", user: priya, from: cxv1.CaseResolved,
			change: setState(cxv1.CaseClosed), wantErr: "may close a Case; priya is neither"},
		{name: "member reopens a closed case", user: priya, from: cxv1.CaseClosed,
			change: setState(cxv1.CaseReopened), wantErr: "may reopen a Case"},
		{name: "case manager (user) changes severity and reassigns", user: maria, from: cxv1.CaseOpen,
			change: func(c *cxv1.Case) { setSeverity(cxv1.SeverityHigh)(c); setAssignee(priya)(c) }},
		{name: "case manager (user) closes and logs it", user: maria, from: cxv1.CaseResolved,
			change: func(c *cxv1.Case) { setState(cxv1.CaseClosed)(c); addAction(maria)(c) }},
		{name: "case manager (group) closes", user: sam, from: cxv1.CaseResolved,
			change: setState(cxv1.CaseClosed)},
		{name: "case manager (group) reopens", user: sam, from: cxv1.CaseClosed,
			change: setState(cxv1.CaseReopened)},
		{name: "outsider logs an action", user: olaf, from: cxv1.CaseOpen,
			change: addAction(olaf), wantErr: "only the team of CaseTemplate installation-support"},
		{name: "outsider moves the case", user: olaf, from: cxv1.CaseOpen,
			change: setState(cxv1.CaseInProgress), wantErr: "olaf is not on the team"},
		{name: "outsider changes labels only", user: olaf, from: cxv1.CaseOpen,
			change: func(c *cxv1.Case) { c.Labels = map[string]string{"triage": "done"} }},
		{name: "cx-case-manager closes and changes severity", user: carol, from: cxv1.CaseResolved,
			change: func(c *cxv1.Case) { setState(cxv1.CaseClosed)(c); setSeverity(cxv1.SeverityLow)(c) }},
		{name: "cx-case-manager reassigns and logs it", user: carol, from: cxv1.CaseOpen,
			change: func(c *cxv1.Case) { setAssignee(maria)(c); addAction(carol)(c) }},
		{name: "cx-case-worker logs an action and moves the case", user: wendy, from: cxv1.CaseOpen,
			change: func(c *cxv1.Case) { addAction(wendy)(c); setState(cxv1.CasePendingCustomer)(c) }},
		{name: "cx-case-worker reassigns", user: wendy, from: cxv1.CaseOpen,
			change: setAssignee(wendy), wantErr: "spec.assignee: only a case manager"},
		{name: "cx-case-worker closes", user: wendy, from: cxv1.CaseResolved,
			change: setState(cxv1.CaseClosed), wantErr: "may close a Case"},
		{name: "manager escalates: reassigns, raises severity, logs as itself", user: "manager", from: cxv1.CaseOpen,
			change: func(c *cxv1.Case) {
				setAssignee(maria)(c)
				setSeverity(cxv1.SeverityUrgent)(c)
				addAction("cxloop")(c)
			}},
	}
	for _, tc := range updates {
		t.Run(tc.name, func(t *testing.T) {
			obj := newCase(ctx, t, ns, tc.from)
			c := obj.DeepCopy()
			tc.change(c)
			checkResult(t, clients[tc.user].Update(ctx, c), tc.wantErr)
		})
	}

	creates := []struct {
		name    string
		user    string
		state   cxv1.CaseState
		actions []cxv1.CaseAction
		wantErr string
	}{
		{name: "outsider opens a case", user: olaf, state: cxv1.CaseOpen},
		{name: "outsider opens a closed case", user: olaf, state: cxv1.CaseClosed, wantErr: "may close a Case; olaf is neither"},
		{name: "case manager opens a closed case", user: maria, state: cxv1.CaseClosed},
		{name: "member opens a case with her action", user: priya, state: cxv1.CaseOpen, actions: []cxv1.CaseAction{action(priya)}},
		{name: "member opens a case with someone else's action", user: priya, state: cxv1.CaseOpen,
			actions: []cxv1.CaseAction{action(maria)}, wantErr: "a new action must have by: priya"},
	}
	for _, tc := range creates {
		t.Run(tc.name, func(t *testing.T) {
			c := caseObject(ns, tc.state)
			c.Spec.Actions = tc.actions
			err := clients[tc.user].Create(ctx, c)
			checkResult(t, err, tc.wantErr)
		})
	}
}

func checkResult(t *testing.T, err error, wantErr string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("refused, want allowed: %v", err)
	case wantErr != "" && err == nil:
		t.Fatalf("allowed, want refused with %q", wantErr)
	case wantErr != "" && !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err):
		t.Fatalf("error %v is not a denial (403/422)", err)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("refused with %q, want a message containing %q", err.Error(), wantErr)
	}
}

// as returns a client that impersonates a user.
func as(t *testing.T, user string, groups ...string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return client.WithFieldValidation(c, metav1.FieldValidationStrict)
}

func mustCreate(ctx context.Context, t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(ctx, obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
}

func bind(ctx context.Context, t *testing.T, ns, name, clusterRole string, subject rbacv1.Subject) {
	t.Helper()
	mustCreate(ctx, t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole},
		Subjects:   []rbacv1.Subject{subject},
	})
}

func caseTemplate(ns, name string, managers, members []cxv1.Subject) *cxv1.CaseTemplate {
	return &cxv1.CaseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1.CaseTemplateSpec{
			Category: "installation",
			Team:     cxv1.Team{CaseManagers: managers, Members: members},
			Closure:  cxv1.ClosureRequirements{RootCauses: []string{"documentation-gap"}},
		},
	}
}

// caseObject is a Case of the installation-support template, with the
// resolution that closing needs already filled in.
func caseObject(ns string, state cxv1.CaseState) *cxv1.Case {
	return &cxv1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "case-"},
		Spec: cxv1.CaseSpec{
			Template: templateRef,
			Customer: &cxv1.Customer{ID: "CUST-1", Tier: "Gold"},
			Severity: cxv1.SeverityNormal,
			Assignee: "jonas",
			State:    state,
			Resolution: &cxv1.Resolution{
				RootCause: "documentation-gap",
				Summary:   "Sent the offline installer guide.",
			},
		},
	}
}

// newCase creates a Case as the test's admin (not on the team: it passes the
// policies through RBAC, which grants system:masters every verb) and walks it
// to the given state along allowed transitions.
func newCase(ctx context.Context, t *testing.T, ns string, state cxv1.CaseState) *cxv1.Case {
	t.Helper()
	c := caseObject(ns, cxv1.CaseOpen)
	mustCreate(ctx, t, c)
	path := map[cxv1.CaseState][]cxv1.CaseState{
		cxv1.CaseOpen:       nil,
		cxv1.CaseInProgress: {cxv1.CaseInProgress},
		cxv1.CaseResolved:   {cxv1.CaseResolved},
		cxv1.CaseClosed:     {cxv1.CaseResolved, cxv1.CaseClosed},
	}[state]
	for _, s := range path {
		c.Spec.State = s
		if err := env.Client.Update(ctx, c); err != nil {
			t.Fatalf("move case %s to %s: %v", c.Name, s, err)
		}
	}
	return c
}

func action(by string) cxv1.CaseAction {
	return cxv1.CaseAction{At: metav1.NewTime(time.Now().Truncate(time.Second)), By: by, Type: cxv1.ActionNote, Text: "Called the customer."}
}

func addAction(by string) func(*cxv1.Case) {
	return func(c *cxv1.Case) { c.Spec.Actions = append(c.Spec.Actions, action(by)) }
}

func setState(s cxv1.CaseState) func(*cxv1.Case) {
	return func(c *cxv1.Case) { c.Spec.State = s }
}

func setSeverity(s cxv1.Severity) func(*cxv1.Case) {
	return func(c *cxv1.Case) { c.Spec.Severity = s }
}

func setAssignee(a string) func(*cxv1.Case) {
	return func(c *cxv1.Case) { c.Spec.Assignee = a }
}

// waitForDenial retries a request until the API server refuses it with the
// message wanted: admission policies load asynchronously after creation.
func waitForDenial(ctx context.Context, t *testing.T, what, want string, try func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = try(); err != nil && strings.Contains(err.Error(), want) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the admission policies never refused the %s (want %q); last result: %v", what, want, err)
}
