package controllers

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// maxConditionMessage keeps condition messages readable and well under the
// API's 32 KiB limit.
const maxConditionMessage = 4000

// outcome is what one reconciliation concluded about an object, turned into
// the Ready, Reconciling and Stalled conditions in one place.
type outcome struct {
	// ready is true when the object is valid and in effect.
	ready bool
	// stalled is true when no retry can help until the spec changes.
	stalled bool
	// reconciling is true while children are still rolling out, or a
	// transient error is retried.
	reconciling bool
	// transient is true when the reconciliation failed for a reason a
	// retry can fix (reason ProgressingWithRetry).
	transient bool
	// reason and message explain a not-ready outcome.
	reason  string
	message string
}

// readyOutcome is the happy path.
func readyOutcome(message string) outcome {
	return outcome{ready: true, reason: cxv1alpha1.ReasonSucceeded, message: message}
}

// problemsOutcome turns validation problems into an outcome. Problems that a
// change elsewhere can fix (a missing reference, an empty selection) do not
// stall the object: watches bring it back when the reference appears.
func problemsOutcome(problems validate.Problems) outcome {
	if len(problems) == 0 {
		return readyOutcome("")
	}
	lines := make([]string, 0, len(problems))
	stalled := false
	for _, p := range problems {
		lines = append(lines, p.String())
		switch p.Reason {
		case cxv1alpha1.ReasonReferenceNotFound, cxv1alpha1.ReasonNoTouchpointSelected, cxv1alpha1.ReasonSecretNotFound:
		default:
			stalled = true
		}
	}
	return outcome{
		stalled: stalled,
		reason:  problems[0].Reason,
		message: truncate(strings.Join(lines, "\n"), maxConditionMessage),
	}
}

// apply sets the summary conditions on conds for the given generation.
func (o outcome) apply(conds *[]metav1.Condition, generation int64) {
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		apimeta.SetStatusCondition(conds, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: generation,
		})
	}
	if o.ready {
		set(cxv1alpha1.ConditionReady, metav1.ConditionTrue, o.reason, o.message)
		apimeta.RemoveStatusCondition(conds, cxv1alpha1.ConditionStalled)
		apimeta.RemoveStatusCondition(conds, cxv1alpha1.ConditionReconciling)
		return
	}
	set(cxv1alpha1.ConditionReady, metav1.ConditionFalse, o.reason, o.message)
	if o.reconciling {
		set(cxv1alpha1.ConditionReconciling, metav1.ConditionTrue, o.reason, o.message)
	} else {
		apimeta.RemoveStatusCondition(conds, cxv1alpha1.ConditionReconciling)
	}
	if o.stalled {
		set(cxv1alpha1.ConditionStalled, metav1.ConditionTrue, o.reason, o.message)
	} else {
		apimeta.RemoveStatusCondition(conds, cxv1alpha1.ConditionStalled)
	}
}

// recordTransition emits a Warning event when an object becomes not ready,
// and a Normal one when it recovers; nothing when the state is unchanged, so
// a resync does not flood events.
func recordTransition(rec recorder.EventRecorder, obj runtime.Object, before []metav1.Condition, o outcome) {
	if rec == nil || o.reconciling && !o.transient {
		return
	}
	prev := apimeta.FindStatusCondition(before, cxv1alpha1.ConditionReady)
	if o.ready {
		if prev != nil && prev.Status != metav1.ConditionTrue {
			rec.Eventf(obj, nil, corev1.EventTypeNormal, cxv1alpha1.ReasonSucceeded, "Validate", "%s", "now valid and in effect")
		}
		return
	}
	if prev == nil || prev.Status != metav1.ConditionFalse || prev.Reason != o.reason || prev.Message != o.message {
		rec.Eventf(obj, nil, corev1.EventTypeWarning, o.reason, "Validate", "%s", truncate(o.message, 1000))
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-len(" …")] + " …"
}

// enqueueAllInNamespace maps any object to requests for every object of
// list's kind in the same namespace. A namespace is one program (tens to a
// few thousand objects), and a change to a referenced object must
// re-validate everything that may point at it.
func enqueueAllInNamespace(c client.Reader, list client.ObjectList) handler.MapFunc {
	return func(ctx context.Context, obj client.Object) []reconcile.Request {
		l, ok := list.DeepCopyObject().(client.ObjectList)
		if !ok {
			return nil
		}
		if err := c.List(ctx, l, client.InNamespace(obj.GetNamespace())); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "list objects to re-validate", "namespace", obj.GetNamespace())
			return nil
		}
		items, err := apimeta.ExtractList(l)
		if err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(items))
		for _, it := range items {
			if o, ok := it.(client.Object); ok {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
			}
		}
		return reqs
	}
}
