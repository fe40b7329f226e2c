package notify

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// sender sends one message to one configured destination, once; the
// Notifier retries.
type sender interface {
	send(ctx context.Context, msg Message) error
}

// newSender reads the Secrets of ch and builds its sender. A missing Secret
// or key, or a malformed value, is permanent.
func (n *Notifier) newSender(ctx context.Context, ch *cxv1alpha1.NotificationChannel) (sender, error) {
	spec := &ch.Spec
	httpc := n.guarded
	if spec.AllowPrivateDestinations {
		httpc = n.open
	}
	switch {
	case spec.Type == cxv1alpha1.ChannelTypeEmail && spec.Email != nil:
		return n.newEmailSender(ctx, ch)
	case spec.Type == cxv1alpha1.ChannelTypeSlack && spec.Slack != nil:
		t, err := n.secretTarget(ctx, ch.Namespace, "spec.slack.webhookURLSecretRef", spec.Slack.WebhookURLSecretRef, httpc)
		if err != nil {
			return nil, err
		}
		return &chatSender{n: n, target: t, payload: func(m Message) any { return slackPayload(m) }}, nil
	case spec.Type == cxv1alpha1.ChannelTypeTeams && spec.Teams != nil:
		t, err := n.secretTarget(ctx, ch.Namespace, "spec.teams.webhookURLSecretRef", spec.Teams.WebhookURLSecretRef, httpc)
		if err != nil {
			return nil, err
		}
		return &chatSender{n: n, target: t, payload: func(m Message) any { return teamsPayload(m) }}, nil
	case spec.Type == cxv1alpha1.ChannelTypeWebhook && spec.Webhook != nil:
		return n.newWebhookSender(ctx, ch, httpc)
	}
	return nil, Permanent(fmt.Errorf("spec.type: %q channel has no matching %s block; set exactly the block of its type", spec.Type, spec.Type))
}

// secretTarget reads a URL from a Secret key.
func (n *Notifier) secretTarget(ctx context.Context, namespace, field string, ref cxv1alpha1.SecretKeyReference, httpc *http.Client) (httpTarget, error) {
	raw, err := n.secretKey(ctx, namespace, field, ref)
	if err != nil {
		return httpTarget{}, err
	}
	u, err := parseTarget(field, string(raw))
	if err != nil {
		return httpTarget{}, err
	}
	return httpTarget{url: u, field: field, client: httpc}, nil
}

// secret reads a whole Secret. Not found is permanent.
func (n *Notifier) secret(ctx context.Context, namespace, field, name string) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := n.secrets.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, Permanent(fmt.Errorf("%s: Secret %q not found in namespace %s; create it", field, name, namespace))
		}
		return nil, fmt.Errorf("%s: read Secret %q: %w", field, name, err)
	}
	return s, nil
}

// secretKey reads one non-empty key of a Secret.
func (n *Notifier) secretKey(ctx context.Context, namespace, field string, ref cxv1alpha1.SecretKeyReference) ([]byte, error) {
	s, err := n.secret(ctx, namespace, field, ref.Name)
	if err != nil {
		return nil, err
	}
	v := s.Data[ref.Key]
	if len(v) == 0 {
		return nil, Permanent(fmt.Errorf("%s: Secret %q has no key %q (or it is empty); add it", field, ref.Name, ref.Key))
	}
	return v, nil
}

// chatSender posts a rendered message to a chat webhook whose URL is the
// credential: a Slack incoming webhook (Block Kit) or a Microsoft Teams
// workflow (Adaptive Card).
type chatSender struct {
	n       *Notifier
	target  httpTarget
	payload func(Message) any
}

func (s *chatSender) send(ctx context.Context, msg Message) error {
	return s.n.postJSON(ctx, s.target, s.payload(msg))
}
