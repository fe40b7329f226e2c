package demo

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Every sample channel reaches a local sink and nothing else: email the
// SMTP sink without TLS or credentials, Slack and Teams through their
// Secrets, the webhook inline; placeholder signing keys are replaced.
func TestLoadProgramRewritesChannels(t *testing.T) {
	p := sampleProgram(t)
	secrets := map[string]*corev1.Secret{}
	var channels []*cxv1alpha1.NotificationChannel
	for _, obj := range p.Objects {
		switch o := obj.(type) {
		case *corev1.Secret:
			secrets[o.Name] = o
		case *cxv1alpha1.NotificationChannel:
			channels = append(channels, o)
		}
	}
	if len(channels) < 4 {
		t.Fatalf("%d channels in the samples, want every type", len(channels))
	}
	for _, ch := range channels {
		spec := ch.Spec
		if !spec.AllowPrivateDestinations {
			t.Errorf("%s: allowPrivateDestinations is false; the sinks are on loopback", ch.Name)
		}
		if ch.Annotations[AnnotationRewritten] == "" {
			t.Errorf("%s: no %s annotation saying what changed", ch.Name, AnnotationRewritten)
		}
		want := "http://127.0.0.1:1/hooks/" + ch.Name
		var got string
		switch {
		case spec.Email != nil:
			if s := spec.Email.SMTP; s.Host != "127.0.0.1" || s.Port != 2525 || s.Security != cxv1alpha1.SMTPNone || s.CredentialsSecretRef != nil {
				t.Errorf("%s: SMTP %+v, want the sink 127.0.0.1:2525 without TLS or credentials", ch.Name, s)
			}
			for _, to := range spec.Email.To {
				if p.ChannelOfRecipient[strings.ToLower(to)] != ch.Name {
					t.Errorf("recipient %s is not filed under %s", to, ch.Name)
				}
			}
			continue
		case spec.SMS != nil:
			creds := secrets[spec.SMS.CredentialsSecretRef.Name].StringData
			if spec.SMS.URL != "http://127.0.0.1:2/sms/"+ch.Name+"/2010-04-01/Accounts/ACdemo/Messages.json" || creds["username"] != "ACdemo" || creds["password"] != "demo-token" {
				t.Errorf("%s: SMS gateway %s with credentials %v, want the SMS sink and its account", ch.Name, spec.SMS.URL, creds)
			}
			continue
		case spec.Slack != nil:
			got = secrets[spec.Slack.WebhookURLSecretRef.Name].StringData[spec.Slack.WebhookURLSecretRef.Key]
		case spec.Teams != nil:
			got = secrets[spec.Teams.WebhookURLSecretRef.Name].StringData[spec.Teams.WebhookURLSecretRef.Key]
		case spec.Webhook != nil:
			got = spec.Webhook.URL
		}
		if got != want {
			t.Errorf("%s posts to %q, want the sink %q", ch.Name, got, want)
		}
	}
	// Invitations to simulated customers are filed under the channel the
	// touchpoints invite through.
	if p.CustomerEmailChannel == "" || p.ChannelOf("Ada.Lovelace.7@"+CustomerDomain) != p.CustomerEmailChannel {
		t.Errorf("customer mail is filed under %q, want the distribution's email channel %q", p.ChannelOf("ada@"+CustomerDomain), p.CustomerEmailChannel)
	}
	for _, obj := range p.Objects {
		tp, ok := obj.(*cxv1alpha1.SurveyTouchpoint)
		if !ok {
			continue
		}
		ref := tp.Spec.Invitations.SigningKeySecretRef
		key := secrets[ref.Name].StringData[ref.Key]
		if strings.Contains(key, "EXAMPLE") || len(key) < 32 {
			t.Errorf("touchpoint %s signs with %q, want a fresh random key", tp.Name, key)
		}
	}
}

// A Case is woken once per deadline: when its first-response or closure
// deadline, or an escalation step after one, falls between two ticks.
func TestDeadlinePassed(t *testing.T) {
	opened := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	ts := func(h float64) *metav1.Time {
		m := metav1.NewTime(opened.Add(time.Duration(h * float64(time.Hour))))
		return &m
	}
	c := &cxv1alpha1.Case{Status: cxv1alpha1.CaseStatus{OpenedAt: ts(0), FirstResponseDueAt: ts(1), DueAt: ts(24)}}
	tmpl := &cxv1alpha1.CaseTemplate{Spec: cxv1alpha1.CaseTemplateSpec{Escalation: []cxv1alpha1.EscalationStep{
		{Name: "reassign", Trigger: cxv1alpha1.TriggerOverdue, After: cxv1alpha1.Duration{Duration: 4 * time.Hour}},
	}}}
	for _, tc := range []struct {
		name      string
		last, now float64
		want      bool
	}{
		{"nothing due yet", 0, 0.5, false},
		{"first response due", 0.5, 1.5, true},
		{"between deadlines", 1.5, 20, false},
		{"closure due", 20, 24, true},
		{"escalation step 4h after due", 25, 28.5, true},
		{"all passed before the last tick", 29, 40, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := deadlinePassed(c, tmpl, ts(tc.last).Time, ts(tc.now).Time); got != tc.want {
				t.Errorf("deadlinePassed(last +%gh, now +%gh) = %v, want %v", tc.last, tc.now, got, tc.want)
			}
		})
	}
	if deadlinePassed(&cxv1alpha1.Case{}, tmpl, opened, opened.Add(48*time.Hour)) {
		t.Error("a Case the controller has not opened yet is woken")
	}
}
