package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/validate"
)

// NotificationChannelReconciler checks that the Secrets a channel references
// exist and hold the keys it needs, that its destination is not a private
// address it may not reach, and reports deliveries that keep failing.
//
// It owns the conditions and observedGeneration of the status; the
// delivery fields (lastDelivery, consecutiveFailures, delivered, failed)
// belong to the notifier (internal/notify), which patches only them. The
// status patch here is a merge patch of what this reconciler changed, so it
// never rewrites the delivery fields.
type NotificationChannelReconciler struct {
	client.Client
	// APIReader reads Secrets straight from the API server: the manager
	// caches only Secrets' metadata, never their data.
	APIReader client.Reader
	Recorder  recorder.EventRecorder
}

func channelSecrets(spec *cxv1alpha1.NotificationChannelSpec) []secretNeed {
	var needs []secretNeed
	keyRef := func(field string, ref *cxv1alpha1.SecretKeyReference) {
		if ref != nil {
			needs = append(needs, secretNeed{field: field, name: ref.Name, keys: []string{ref.Key}})
		}
	}
	if e := spec.Email; e != nil && e.SMTP.CredentialsSecretRef != nil {
		needs = append(needs, secretNeed{field: "spec.email.smtp.credentialsSecretRef", name: e.SMTP.CredentialsSecretRef.Name, keys: []string{"username", "password"}})
	}
	if s := spec.Slack; s != nil {
		keyRef("spec.slack.webhookURLSecretRef", &s.WebhookURLSecretRef)
	}
	if t := spec.Teams; t != nil {
		keyRef("spec.teams.webhookURLSecretRef", &t.WebhookURLSecretRef)
	}
	if s := spec.SMS; s != nil {
		needs = append(needs, secretNeed{field: "spec.sms.credentialsSecretRef", name: s.CredentialsSecretRef.Name, keys: []string{"username", "password"}})
	}
	if w := spec.Webhook; w != nil {
		keyRef("spec.webhook.urlSecretRef", w.URLSecretRef)
		keyRef("spec.webhook.signingSecretRef", &w.SigningSecretRef)
		if w.HeadersSecretRef != nil {
			needs = append(needs, secretNeed{field: "spec.webhook.headersSecretRef", name: w.HeadersSecretRef.Name})
		}
	}
	return needs
}

func (r *NotificationChannelReconciler) check(ctx context.Context, ch *cxv1alpha1.NotificationChannel) (outcome, ctrl.Result, error) {
	problems, err := secretProblems(ctx, r.APIReader, ch.Namespace, channelSecrets(&ch.Spec))
	if err != nil {
		return outcome{}, ctrl.Result{}, err
	}
	problems = append(problems, validate.NotificationChannel(&ch.Spec)...)
	o := problemsOutcome(problems)
	if o.ready {
		o = deliveryOutcome(ch)
	}
	return o, ctrl.Result{}, nil
}

// deliveryOutcome is Ready for a valid channel unless its deliveries
// are failing (notify.Health).
func deliveryOutcome(ch *cxv1alpha1.NotificationChannel) outcome {
	healthy, msg := notify.Health(ch)
	if healthy {
		return readyOutcome(msg)
	}
	return outcome{reason: cxv1alpha1.ReasonDeliveryFailed, message: truncate(msg, maxConditionMessage)}
}

// deliveryHealthChanged passes status updates that change whether a channel
// counts as failing, or the failure a failing channel reports, so the
// controller re-evaluates Ready without reacting to every delivery.
func deliveryHealthChanged() predicate.Funcs {
	failing := func(o client.Object) (bool, string) {
		ch, ok := o.(*cxv1alpha1.NotificationChannel)
		if !ok || !notify.Failing(&ch.Status) {
			return false, ""
		}
		return true, ch.Status.LastDelivery.Message
	}
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldFailing, oldMsg := failing(e.ObjectOld)
			newFailing, newMsg := failing(e.ObjectNew)
			return oldFailing != newFailing || newFailing && oldMsg != newMsg
		},
		CreateFunc:  func(event.CreateEvent) bool { return false },
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// SetupWithManager registers the controller. It reconciles on spec changes
// and when deliveries start or stop failing. Secrets are watched by
// metadata only, so a Secret created after its channel makes the channel
// Ready without the manager caching any secret data.
func (r *NotificationChannelReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(enqueueAllInNamespace(mgr.GetClient(), &cxv1alpha1.NotificationChannelList{}))
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1alpha1.NotificationChannel{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, deliveryHealthChanged()))).
		Watches(&corev1.Secret{}, all, builder.OnlyMetadata, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Named("notificationchannel").
		Complete(&reconciler[*cxv1alpha1.NotificationChannel]{
			client: r.Client, recorder: r.Recorder,
			newObj: func() *cxv1alpha1.NotificationChannel { return &cxv1alpha1.NotificationChannel{} },
			steps:  r.check,
		})
}

// secretNeed is one Secret an object needs, the field that names it, and the
// keys it must hold.
type secretNeed struct {
	field string
	name  string
	keys  []string
}

// secretProblems reports the needed Secrets that are missing or lack a key.
// Secrets are read uncached: the manager caches only their metadata.
func secretProblems(ctx context.Context, reader client.Reader, namespace string, needs []secretNeed) (validate.Problems, error) {
	var problems validate.Problems
	for _, need := range needs {
		secret := &corev1.Secret{}
		err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: need.name}, secret)
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("get secret %s/%s: %w", namespace, need.name, err)
		}
		if err != nil {
			problems = append(problems, validate.Problem{
				Field: need.field, Reason: cxv1alpha1.ReasonSecretNotFound,
				Message: fmt.Sprintf("Secret %q not found in namespace %s; create it", need.name, namespace),
			})
			continue
		}
		for _, key := range need.keys {
			if len(secret.Data[key]) == 0 {
				problems = append(problems, validate.Problem{
					Field: need.field, Reason: cxv1alpha1.ReasonSecretNotFound,
					Message: fmt.Sprintf("Secret %q has no key %q (or it is empty); add it", need.name, key),
				})
			}
		}
	}
	return problems, nil
}
