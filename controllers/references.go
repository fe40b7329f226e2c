package controllers

import (
	"context"
	"fmt"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// references collects problems for objects a spec names but its namespace
// lacks. The first transient error stops further lookups and is kept in err.
type references struct {
	ctx       context.Context
	c         client.Reader
	namespace string
	problems  validate.Problems
	err       error
}

// require records a problem at field unless an object of obj's kind named
// name exists.
func (r *references) require(field, name string, obj client.Object) {
	if r.err != nil {
		return
	}
	err := r.c.Get(r.ctx, types.NamespacedName{Namespace: r.namespace, Name: name}, obj)
	switch {
	case err == nil:
	case client.IgnoreNotFound(err) == nil && !apimeta.IsNoMatchError(err):
		r.problems = append(r.problems, validate.Problem{
			Field:   field,
			Reason:  cxv1alpha1.ReasonReferenceNotFound,
			Message: fmt.Sprintf("%s %q not found in namespace %s; create it or fix the name", kindName(obj), name, r.namespace),
		})
	default:
		r.err = fmt.Errorf("get %s %s/%s: %w", kindName(obj), r.namespace, name, err)
	}
}

// kindName names a cxloop kind for messages.
func kindName(obj client.Object) string {
	switch obj.(type) {
	case *cxv1alpha1.NotificationChannel:
		return "NotificationChannel"
	case *cxv1alpha1.CaseTemplate:
		return "CaseTemplate"
	case *cxv1alpha1.SurveyTouchpoint:
		return "SurveyTouchpoint"
	}
	return fmt.Sprintf("%T", obj)
}

// createOrDelete passes only creations and deletions: the controllers that
// use it care whether a referenced object exists, not what it says.
func createOrDelete() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(event.UpdateEvent) bool { return false },
	}
}
