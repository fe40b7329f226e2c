package install_test

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// testChannelAccess: a NotificationChannel's author must be allowed to read
// every Secret it names and, for private destinations, hold the verb
// allow-private-destinations; SMTP credentials need TLS.
func testChannelAccess(t *testing.T, a access) {
	ctx := context.Background()
	ns := env.Namespace(t)
	const (
		eddie = "eddie" // edits channels (cx-editor), may read only her own hook's Secret
		pat   = "pat"   // the same, plus cx-private-destinations
	)
	for _, s := range []string{"smtp-creds", "eddie-hook-signing"} {
		mustCreate(ctx, t, secret(ns, s, "password", "s3cret"))
	}
	mustCreate(ctx, t, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "eddie-hook-secret"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"},
			ResourceNames: []string{"eddie-hook-signing"}, Verbs: []string{"get"}}},
	})
	for _, user := range []string{eddie, pat} {
		subject := rbacv1.Subject{Kind: rbacv1.UserKind, Name: user}
		bind(ctx, t, ns, user+"-channels", a.prefix+"notificationchannel-editor-role", subject)
		mustCreate(ctx, t, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: user + "-hook-secret"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "eddie-hook-secret"},
			Subjects:   []rbacv1.Subject{subject},
		})
	}
	bind(ctx, t, ns, "pat-private", a.prefix+"cx-private-destinations", rbacv1.Subject{Kind: rbacv1.UserKind, Name: pat})
	eddieClient, patClient := as(t, eddie), as(t, pat)

	email := func(name, security string) *cxv1.NotificationChannel {
		return &cxv1.NotificationChannel{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: cxv1.NotificationChannelSpec{Type: cxv1.ChannelTypeEmail, Email: &cxv1.EmailChannel{
				SMTP: cxv1.SMTPServer{Host: "smtp.example.com", Port: 587, Security: cxv1.SMTPSecurity(security),
					CredentialsSecretRef: &cxv1.SecretReference{Name: "smtp-creds"}},
				From: "cx@example.com", To: []string{"support@example.com"},
			}},
		}
	}
	hook := func(name string, private bool) *cxv1.NotificationChannel {
		return &cxv1.NotificationChannel{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: cxv1.NotificationChannelSpec{Type: cxv1.ChannelTypeWebhook, AllowPrivateDestinations: private,
				Webhook: &cxv1.WebhookChannel{URL: "http://crm.cx-system.svc/hook",
					SigningSecretRef: cxv1.SecretKeyReference{Name: "eddie-hook-signing", Key: "password"}}},
		}
	}
	waitForDenial(ctx, t, "a channel naming an unreadable Secret", "may not get Secret smtp-creds", func() error {
		return eddieClient.Create(ctx, email("probe", "StartTLS"), client.DryRunAll)
	})

	wantDenied(t, "cx-editor names SMTP credentials she cannot read", eddieClient.Create(ctx, email("eddie-mail", "StartTLS")),
		"spec.email.smtp.credentialsSecretRef: a NotificationChannel may name only Secrets its author may read, and eddie may not get Secret smtp-creds")
	wantDenied(t, "cx-editor allows private destinations", eddieClient.Create(ctx, hook("eddie-private", true)),
		"spec.allowPrivateDestinations: eddie may not let the notifier reach private and cluster-internal addresses")
	if err := eddieClient.Create(ctx, hook("eddie-hook", false)); err != nil {
		t.Errorf("cx-editor creates a webhook with a Secret she may read: %v", err)
	}
	if err := patClient.Create(ctx, hook("pat-private", true)); err != nil {
		t.Errorf("a user granted allow-private-destinations creates a private webhook: %v", err)
	}
	wantDenied(t, "credentials over an unencrypted connection", env.Client.Create(ctx, email("plain-mail", "None")),
		"spec.email.smtp.credentialsSecretRef: credentials are never sent over an unencrypted connection")

	// A channel someone else made with the credentials: eddie may not move
	// its destination (the credentials would follow), but may label it.
	owned := email("support-mail", "StartTLS")
	mustCreate(ctx, t, owned)
	moved := owned.DeepCopy()
	moved.Spec.Email.SMTP.Host = "smtp.attacker.example"
	wantDenied(t, "cx-editor moves another's channel with credentials", eddieClient.Update(ctx, moved), "eddie may not get Secret smtp-creds")
	labelled := owned.DeepCopy()
	labelled.Labels = map[string]string{"team": "support"}
	if err := eddieClient.Update(ctx, labelled); err != nil {
		t.Errorf("cx-editor labels a channel: %v", err)
	}
}
