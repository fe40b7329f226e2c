package controllers

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// A touchpoint whose collector workload the manager may not read (the API
// server answers Forbidden) stops claiming Ready: Ready=False and
// Reconciling=True with reason ProgressingWithRetry and the error, a
// Warning event, and a retry; the same failure again writes nothing; once
// the workload is readable again it is Ready.
func TestTransientErrorIsReportedOnce(t *testing.T) {
	ns := env.Namespace(t)
	tp := touchpoint(ns, "web-checkout", nil)
	create(t, tp)
	sts := &appsv1.StatefulSet{}
	eventually(t, "collector statefulset", func() error { return get(ns, "web-checkout-collector", sts) })
	sts.Status.Replicas, sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = 1, 1, 1
	if err := env.Client.Status().Update(context.Background(), sts); err != nil {
		t.Fatal(err)
	}
	waitReady(t, tp, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)

	forbidden := forbidStatefulSets{env.Client}
	skeleton := func(c client.Client) *reconciler[*cxv1alpha1.SurveyTouchpoint] {
		r := &SurveyTouchpointReconciler{Client: c, APIReader: env.Client, Recorder: testEventRecorder(), Endpoint: testCollectorEndpoint, CollectorImage: "cxloop:test"}
		return &reconciler[*cxv1alpha1.SurveyTouchpoint]{
			client: c, recorder: r.Recorder, steps: r.check,
			newObj: func() *cxv1alpha1.SurveyTouchpoint { return &cxv1alpha1.SurveyTouchpoint{} },
		}
	}
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(tp)}
	if _, err := skeleton(forbidden).Reconcile(context.Background(), req); err == nil || !apierrors.IsForbidden(err) {
		t.Fatalf("Reconcile = %v, want the Forbidden error (retried with backoff)", err)
	}
	if err := get(ns, tp.Name, tp); err != nil {
		t.Fatal(err)
	}
	ready := apimeta.FindStatusCondition(tp.Status.Conditions, cxv1alpha1.ConditionReady)
	reconciling := apimeta.FindStatusCondition(tp.Status.Conditions, cxv1alpha1.ConditionReconciling)
	if ready == nil || ready.Status != metav1.ConditionFalse || ready.Reason != cxv1alpha1.ReasonProgressingWithRetry || !strings.Contains(ready.Message, "forbidden") {
		t.Errorf("Ready = %+v, want False/ProgressingWithRetry naming the Forbidden error", ready)
	}
	if reconciling == nil || reconciling.Status != metav1.ConditionTrue || reconciling.Reason != cxv1alpha1.ReasonProgressingWithRetry {
		t.Errorf("Reconciling = %+v, want True/ProgressingWithRetry", reconciling)
	}
	eventually(t, "Warning event ProgressingWithRetry", func() error {
		return findEvent(ns, tp.Name, "Warning", cxv1alpha1.ReasonProgressingWithRetry)
	})

	// The same failure again changes nothing, so nothing is written.
	rv := tp.ResourceVersion
	if _, err := skeleton(forbidden).Reconcile(context.Background(), req); err == nil {
		t.Fatal("second Reconcile succeeded, want the Forbidden error")
	}
	if err := get(ns, tp.Name, tp); err != nil {
		t.Fatal(err)
	}
	if tp.ResourceVersion != rv {
		t.Errorf("the same failure wrote the touchpoint again (resourceVersion %s -> %s)", rv, tp.ResourceVersion)
	}

	if _, err := skeleton(env.Client).Reconcile(context.Background(), req); err != nil {
		t.Fatalf("Reconcile after recovery: %v", err)
	}
	waitReady(t, tp, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
	if c := apimeta.FindStatusCondition(tp.Status.Conditions, cxv1alpha1.ConditionReconciling); c != nil {
		t.Errorf("Reconciling = %+v after recovery, want it removed", c)
	}
}

// forbidStatefulSets answers every read of a StatefulSet with Forbidden, as
// the API server does for a manager whose Role lacks it.
type forbidStatefulSets struct{ client.Client }

func (c forbidStatefulSets) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*appsv1.StatefulSet); ok {
		return apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "statefulsets"}, key.Name, nil)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}
