package install_test

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
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
	// recoveryTemplate requires resolution.customerRecovered to close.
	recoveryTemplate = "account-recovery-strict"
)

// testCaseAccess works Cases as impersonated users under an install's
// admission policies and roles: the access hierarchy.
//
// The policies' status.typeChecking is filled in by kube-controller-manager,
// which the test control plane does not run; instead every validation is
// exercised here both ways, and a CEL expression that fails at run time
// (a misspelt field) refuses the request (failurePolicy: Fail), so the
// allowed cases would fail.
func testCaseAccess(t *testing.T, a access) {
	ctx := context.Background()
	prefix := a.prefix
	ns := env.Namespace(t)
	mustCreate(ctx, t, caseTemplate(ns, templateRef,
		[]cxv1.Subject{{Kind: cxv1.SubjectUser, Name: maria}, {Kind: cxv1.SubjectGroup, Name: supportLead}},
		// kind left to its default (User)
		[]cxv1.Subject{{Name: priya}}))
	// priya manages another template: that gives her nothing on Cases of
	// installation-support.
	mustCreate(ctx, t, caseTemplate(ns, "account-recovery", []cxv1.Subject{{Name: priya}}, nil))
	bind(ctx, t, ns, "operators", prefix+"case-editor-role", rbacv1.Subject{Kind: rbacv1.GroupKind, Name: operators})
	// A template whose closing needs resolution.customerRecovered.
	recovery := caseTemplate(ns, recoveryTemplate, []cxv1.Subject{{Name: maria}}, []cxv1.Subject{{Name: priya}})
	recovery.Spec.Closure.RequireCustomerRecovered = true
	mustCreate(ctx, t, recovery)
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
	a.program(t, ns)
	clients["manager"], _ = a.manager(t)

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
		name     string
		user     string
		template string // default: installation-support
		from     cxv1.CaseState
		change   func(*cxv1.Case)
		wantErr  string // substring of the denial; empty: allowed
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
		{name: "member moves the deadline", user: priya, from: cxv1.CaseOpen,
			change: setClosureGoal(720 * time.Hour), wantErr: "spec.closureGoal: only a case manager of CaseTemplate installation-support"},
		{name: "outsider moves the deadline", user: olaf, from: cxv1.CaseOpen,
			change: setClosureGoal(720 * time.Hour), wantErr: "spec.closureGoal: only a case manager"},
		{name: "cx-case-worker moves the deadline", user: wendy, from: cxv1.CaseOpen,
			change: setClosureGoal(720 * time.Hour), wantErr: "spec.closureGoal: only a case manager"},
		{name: "case manager moves the deadline", user: maria, from: cxv1.CaseOpen,
			change: setClosureGoal(96 * time.Hour)},
		{name: "cx-case-manager moves the deadline", user: carol, from: cxv1.CaseOpen,
			change: setClosureGoal(96 * time.Hour)},
		{name: "member rewrites the resolution of a closed case", user: priya, from: cxv1.CaseClosed,
			change: func(c *cxv1.Case) { c.Spec.Resolution.Summary = "Nothing happened." }, wantErr: "a Closed Case cannot be changed (this request changes resolution)"},
		{name: "member retitles a closed case", user: priya, from: cxv1.CaseClosed,
			change: func(c *cxv1.Case) { c.Spec.Title = "Other"; c.Spec.Category = "other" }, wantErr: "a Closed Case cannot be changed (this request changes title, category)"},
		{name: "case manager rewrites the customer of a closed case", user: maria, from: cxv1.CaseClosed,
			change: func(c *cxv1.Case) { c.Spec.Customer.ID = "CUST-2" }, wantErr: "a Closed Case cannot be changed (this request changes customer)"},
		{name: "case manager logs a note on a closed case", user: maria, from: cxv1.CaseClosed,
			change: addAction(maria), wantErr: "may reopen it first"},
		{name: "case manager reopens a closed case with a note", user: maria, from: cxv1.CaseClosed,
			change: func(c *cxv1.Case) { setState(cxv1.CaseReopened)(c); addAction(maria)(c) }},
		{name: "case manager reopens and rewrites the resolution", user: maria, from: cxv1.CaseClosed,
			change:  func(c *cxv1.Case) { setState(cxv1.CaseReopened)(c); c.Spec.Resolution.RootCause = "other" },
			wantErr: "a Closed Case cannot be changed (this request changes state, actions, resolution)"},
		{name: "case manager closes with a root cause outside the list", user: maria, from: cxv1.CaseResolved,
			change:  func(c *cxv1.Case) { setState(cxv1.CaseClosed)(c); c.Spec.Resolution.RootCause = "gremlins" },
			wantErr: "spec.resolution.rootCause: gremlins is not a root cause of CaseTemplate installation-support; closing needs one of: documentation-gap, installer-bug"},
		{name: "case manager closes without customerRecovered", user: maria, template: recoveryTemplate, from: cxv1.CaseResolved,
			change: setState(cxv1.CaseClosed), wantErr: "spec.resolution.customerRecovered: CaseTemplate " + recoveryTemplate},
		{name: "case manager closes with customerRecovered", user: maria, template: recoveryTemplate, from: cxv1.CaseResolved,
			change: func(c *cxv1.Case) { setState(cxv1.CaseClosed)(c); c.Spec.Resolution.CustomerRecovered = ptr.To(false) }},
		{name: "member adds a related response", user: priya, from: cxv1.CaseOpen,
			change: addRelated("upgrade-install/r-9")},
		{name: "outsider adds a related response", user: olaf, from: cxv1.CaseOpen,
			change: addRelated("upgrade-install/r-9"), wantErr: "olaf is not on the team"},
		{name: "manager escalates: reassigns, raises severity, logs as itself", user: "manager", from: cxv1.CaseOpen,
			change: func(c *cxv1.Case) {
				setAssignee(maria)(c)
				setSeverity(cxv1.SeverityUrgent)(c)
				addAction("cxloop")(c)
			}},
	}
	for _, tc := range updates {
		t.Run(tc.name, func(t *testing.T) {
			template := tc.template
			if template == "" {
				template = templateRef
			}
			obj := newCaseOf(ctx, t, ns, template, tc.from)
			c := obj.DeepCopy()
			tc.change(c)
			checkResult(t, clients[tc.user].Update(ctx, c), tc.wantErr)
		})
	}

	creates := []struct {
		name      string
		user      string
		state     cxv1.CaseState
		actions   []cxv1.CaseAction
		rootCause string
		wantErr   string
	}{
		{name: "outsider opens a case", user: olaf, state: cxv1.CaseOpen},
		{name: "outsider opens a closed case", user: olaf, state: cxv1.CaseClosed, wantErr: "may close a Case; olaf is neither"},
		{name: "case manager opens a closed case", user: maria, state: cxv1.CaseClosed},
		{name: "member opens a case with her action", user: priya, state: cxv1.CaseOpen, actions: []cxv1.CaseAction{action(priya)}},
		{name: "member opens a case with someone else's action", user: priya, state: cxv1.CaseOpen,
			actions: []cxv1.CaseAction{action(maria)}, wantErr: "a new action must have by: priya"},
		{name: "case manager opens a closed case with a root cause outside the list", user: maria, state: cxv1.CaseClosed,
			rootCause: "gremlins", wantErr: "spec.resolution.rootCause: gremlins is not a root cause"},
	}
	for _, tc := range creates {
		t.Run(tc.name, func(t *testing.T) {
			c := caseObject(ns, tc.state)
			c.Spec.Actions = tc.actions
			if tc.rootCause != "" {
				c.Spec.Resolution.RootCause = tc.rootCause
			}
			err := clients[tc.user].Create(ctx, c)
			checkResult(t, err, tc.wantErr)
		})
	}

	// The action log records who moved, reassigned and escalated a Case,
	// at the server's time, and actions are dated by the server.
	t.Run("audit log", func(t *testing.T) {
		c := newCase(ctx, t, ns, cxv1.CaseOpen)
		update := func(user string, change func(*cxv1.Case)) error {
			t.Helper()
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
				t.Fatal(err)
			}
			change(c)
			return clients[user].Update(ctx, c)
		}
		lastEntries := func(n int) []cxv1.CaseAction {
			t.Helper()
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
				t.Fatal(err)
			}
			if len(c.Spec.Actions) < n {
				t.Fatalf("log has %d entries, want at least %d: %+v", len(c.Spec.Actions), n, c.Spec.Actions)
			}
			return c.Spec.Actions[len(c.Spec.Actions)-n:]
		}
		checkEntry := func(a cxv1.CaseAction, typ cxv1.ActionType, by, text string) {
			t.Helper()
			if a.Type != typ || a.By != by || (text != "" && a.Text != text) || time.Since(a.At.Time).Abs() > 10*time.Second {
				t.Errorf("entry = %+v, want %s by %s %q at the server's time", a, typ, by, text)
			}
		}
		if err := update(priya, setState(cxv1.CaseInProgress)); err != nil {
			t.Fatal(err)
		}
		checkEntry(lastEntries(1)[0], cxv1.ActionStateChanged, priya, "state: Open → InProgress")
		if err := update(maria, func(c *cxv1.Case) { setAssignee(priya)(c); setSeverity(cxv1.SeverityUrgent)(c) }); err != nil {
			t.Fatal(err)
		}
		got := lastEntries(2)
		checkEntry(got[0], cxv1.ActionReassigned, maria, "assignee: jonas → priya")
		checkEntry(got[1], cxv1.ActionEscalated, maria, "severity: Normal → Urgent")
		// No at: the server dates it.
		if err := update(priya, func(c *cxv1.Case) {
			c.Spec.Actions = append(c.Spec.Actions, cxv1.CaseAction{By: priya, Type: cxv1.ActionCustomerContacted, Text: "Called back."})
		}); err != nil {
			t.Fatal(err)
		}
		checkEntry(lastEntries(1)[0], cxv1.ActionCustomerContacted, priya, "Called back.")
		// Backdated by ten days (to fake a first response in time): refused.
		err := update(priya, func(c *cxv1.Case) {
			c.Spec.Actions = append(c.Spec.Actions, cxv1.CaseAction{At: metav1.NewTime(time.Now().Add(-240 * time.Hour)), By: priya, Type: cxv1.ActionNote})
		})
		// The distance is measured when the webhook runs: a loaded
		// machine adds a second to the ten days.
		checkResult(t, err, "is 240h0m")
		checkResult(t, err, "from the server's time")
	})

	// Nobody deletes a Case but the manager (retention): not a member, not a
	// case manager, not a cluster administrator.
	for _, user := range []string{priya, maria, carol, "admin"} {
		t.Run("deletion by "+user, func(t *testing.T) {
			c := newCase(ctx, t, ns, cxv1.CaseClosed)
			cl := env.Client
			if user != "admin" {
				cl = clients[user]
			}
			want := "cannot delete resource" // RBAC: case-editor-role has no delete
			if user == "admin" {
				want = "Cases cannot be deleted by people" // system:masters: the policy
			}
			wantDenied(t, "delete", cl.Delete(ctx, c), want)
		})
	}
	t.Run("deletion by the manager (retention)", func(t *testing.T) {
		c := newCase(ctx, t, ns, cxv1.CaseClosed)
		if err := clients["manager"].Delete(ctx, c); err != nil {
			t.Fatalf("the manager's retention delete was refused: %v", err)
		}
	})
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
			Closure:  cxv1.ClosureRequirements{RootCauses: []string{"documentation-gap", "installer-bug"}},
		},
	}
}

// caseObject is a Case of the installation-support template, with the
// resolution that closing needs already filled in.
func caseObject(ns string, state cxv1.CaseState) *cxv1.Case {
	return caseObjectOf(ns, templateRef, state)
}

func caseObjectOf(ns, template string, state cxv1.CaseState) *cxv1.Case {
	return &cxv1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "case-"},
		Spec: cxv1.CaseSpec{
			Template: template,
			Title:    "Installer stops at 80%",
			Category: "installation",
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
	return newCaseOf(ctx, t, ns, templateRef, state)
}

func newCaseOf(ctx context.Context, t *testing.T, ns, template string, state cxv1.CaseState) *cxv1.Case {
	t.Helper()
	c := caseObjectOf(ns, template, cxv1.CaseOpen)
	if template == recoveryTemplate && state == cxv1.CaseClosed {
		c.Spec.Resolution.CustomerRecovered = ptr.To(true)
	}
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

func setClosureGoal(d time.Duration) func(*cxv1.Case) {
	return func(c *cxv1.Case) { c.Spec.ClosureGoal = &cxv1.Duration{Duration: d} }
}

func addRelated(ref string) func(*cxv1.Case) {
	return func(c *cxv1.Case) { c.Spec.RelatedResponses = append(c.Spec.RelatedResponses, ref) }
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
