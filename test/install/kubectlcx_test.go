package install_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/kubectlcx"
)

// kubeconfigFile writes a kubeconfig for the test API server, as a person
// has one: kubectl cx reads it, and --as picks the person.
func kubeconfigFile(t *testing.T) string {
	t.Helper()
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// kubectlCX runs `kubectl cx ARGS` and returns its output, or the error as
// the plugin prints it.
func kubectlCX(t *testing.T, kubeconfig, ns, user string, args ...string) (string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := kubectlcx.NewCommand(kubectlcx.IO{In: strings.NewReader(""), Out: &out, Err: &errOut}, time.Now)
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "-n", ns, "--as", user, "--as-group", operators}, args...))
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		return out.String(), kubectlcx.Plain(err)
	}
	return out.String(), ""
}

// A member and a case manager work a Case from open to closed with kubectl
// cx, as themselves (impersonated, through the shipped RBAC and admission
// policies): the member takes it, logs the call, moves it; her attempt to
// close it is refused with the policy's own words; the case manager closes
// it with its resolution.
func TestKubectlCXWorksACaseToClosed(t *testing.T) {
	a := installAccess(t, "kustomize")
	ctx := context.Background()
	ns := env.Namespace(t)
	mustCreate(ctx, t, caseTemplate(ns, templateRef, []cxv1.Subject{{Kind: cxv1.SubjectUser, Name: maria}}, []cxv1.Subject{{Name: priya}}))
	// People read and update Cases through case-editor-role (aggregated into
	// cx-editor, which the test control plane cannot aggregate).
	bind(ctx, t, ns, "operators", a.prefix+"case-editor-role", rbacv1.Subject{Kind: rbacv1.GroupKind, Name: operators})
	bind(ctx, t, ns, "case-manager", a.prefix+"cx-case-manager", rbacv1.Subject{Kind: rbacv1.UserKind, Name: maria})
	bind(ctx, t, ns, "case-worker", a.prefix+"cx-case-worker", rbacv1.Subject{Kind: rbacv1.UserKind, Name: priya})
	c := caseObject(ns, cxv1.CaseOpen)
	c.Spec.Assignee, c.Spec.Resolution = "", nil
	mustCreate(ctx, t, c)
	kc := kubeconfigFile(t)

	out, errMsg := kubectlCX(t, kc, ns, priya, "cases")
	if errMsg != "" || !strings.Contains(out, c.Name) || !strings.Contains(out, "Installer stops at 80%") || !strings.Contains(out, "CUST-1 (Gold)") {
		t.Fatalf("cases: %q %s", out, errMsg)
	}
	steps := []struct {
		user string
		args []string
		want string // in the output, or in the error when refused is set
		// refused: the API server must refuse it with want.
		refused bool
	}{
		{user: priya, args: []string{"take", c.Name}, want: "assigned to " + priya},
		{user: priya, args: []string{"act", c.Name, "--type", "CustomerContacted", "--text", "Called; sent the offline installer", "--time-spent", "20m"}, want: "CustomerContacted by priya recorded"},
		{user: priya, args: []string{"move", c.Name, "InProgress"}, want: "moved to InProgress"},
		{user: maria, args: []string{"assign", c.Name, priya}, want: "assigned to priya"},
		{user: priya, args: []string{"cases", "--mine"}, want: c.Name},
		{user: priya, args: []string{"move", c.Name, "Closed"}, want: "state cannot move from InProgress to Closed", refused: true},
		{user: priya, args: []string{"close", c.Name, "--root-cause", "documentation-gap", "--summary", "Sent the guide"}, want: "may close a Case; priya is neither", refused: true},
		{user: maria, args: []string{"close", c.Name, "--root-cause", "documentation-gap", "--summary", "Sent the offline installer guide", "--recovered=true"}, want: "closed (documentation-gap)"},
	}
	for _, s := range steps {
		out, errMsg := kubectlCX(t, kc, ns, s.user, s.args...)
		switch {
		case s.refused && !strings.Contains(errMsg, s.want):
			t.Fatalf("%s: kubectl cx %s: want refused with %q, got output %q, error %q", s.user, strings.Join(s.args, " "), s.want, out, errMsg)
		case !s.refused && (errMsg != "" || !strings.Contains(out, s.want)):
			t.Fatalf("%s: kubectl cx %s: want %q, got output %q, error %q", s.user, strings.Join(s.args, " "), s.want, out, errMsg)
		}
	}

	got := &cxv1.Case{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(c), got); err != nil {
		t.Fatal(err)
	}
	// The call priya logged, and the state changes the webhook logged with
	// who made them.
	var log []string
	for _, a := range got.Spec.Actions {
		log = append(log, string(a.Type)+" by "+a.By)
	}
	wantLog := []string{"CustomerContacted by priya", "StateChanged by priya", "StateChanged by priya", "StateChanged by maria"}
	if strings.Join(log, ", ") != strings.Join(wantLog, ", ") {
		t.Errorf("action log %v, want %v", log, wantLog)
	}
	if got.Spec.State != cxv1.CaseClosed || got.Spec.Assignee != priya || got.Spec.Resolution == nil || got.Spec.Resolution.CustomerRecovered == nil || !*got.Spec.Resolution.CustomerRecovered {
		t.Fatalf("case after kubectl cx: %+v", got.Spec)
	}
	out, _ = kubectlCX(t, kc, ns, maria, "case", c.Name)
	for _, want := range []string{"State:", "Closed", "Root cause:", "documentation-gap", "Timeline:", "CustomerContacted by priya: Called; sent the offline installer"} {
		if !strings.Contains(out, want) {
			t.Errorf("case %s output lacks %q:\n%s", c.Name, want, out)
		}
	}
	if out, _ := kubectlCX(t, kc, ns, maria, "cases"); strings.Contains(out, c.Name) {
		t.Errorf("cases lists the closed Case without --all:\n%s", out)
	}
	if err := os.Remove(kc); err != nil {
		t.Fatal(err)
	}
}
