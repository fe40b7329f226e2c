package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The accessors below let controllers treat every kind's status alike
// (conditions and observedGeneration), as cluster-api and Flux do.

// GetConditions returns the status conditions.
func (in *SurveyTouchpoint) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *SurveyTouchpoint) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (in *SurveyTouchpoint) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *AlertRule) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *AlertRule) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (in *AlertRule) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *CaseTemplate) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *CaseTemplate) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (in *CaseTemplate) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *Case) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *Case) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (in *Case) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *ReportSubscription) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *ReportSubscription) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (in *ReportSubscription) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }

// GetConditions returns the status conditions.
func (in *NotificationChannel) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions replaces the status conditions.
func (in *NotificationChannel) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// SetObservedGeneration records the generation last reconciled.
func (in *NotificationChannel) SetObservedGeneration(g int64) { in.Status.ObservedGeneration = g }
