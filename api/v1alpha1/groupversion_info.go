// Package v1alpha1 contains the API of a cxloop customer-experience program:
// SurveyTouchpoint, AlertRule, CaseTemplate, Case, ReportSubscription and
// NotificationChannel in the cx.cxloop.io group.
//
// +kubebuilder:object:generate=true
// +groupName=cx.cxloop.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "cx.cxloop.io", Version: "v1alpha1"}

	// SchemeBuilder adds the Go types to a scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	// knownTypes are registered by each kind's init.
	knownTypes []runtime.Object
)

// register adds objects to the types this package puts in a scheme.
func register(objects ...runtime.Object) {
	knownTypes = append(knownTypes, objects...)
}

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
