// Package v1alpha1 contains the API of a cxloop customer-experience program:
// SurveyTouchpoint, AlertRule, CaseTemplate, Case, ReportSubscription and
// NotificationChannel in the cx.cxloop.io group.
//
// +kubebuilder:object:generate=true
// +groupName=cx.cxloop.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: "cx.cxloop.io", Version: "v1alpha1"}

	// SchemeBuilder adds the Go types to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types in this group-version to the given scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
