package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReportSection is a part of a report.
// +kubebuilder:validation:Enum=KPIs;Trend;Segments;Cases;KeyDrivers;Themes;Goals;Predictions
type ReportSection string

// Report sections.
const (
	// SectionKPIs: NPS, CSAT, CES and response count per touchpoint and
	// overall, against the comparison window, with the margin of error.
	SectionKPIs ReportSection = "KPIs"
	// SectionTrend: the KPIs per period over the last periods, as a chart.
	SectionTrend ReportSection = "Trend"
	// SectionSegments: the KPIs by a grouping, best and worst.
	SectionSegments ReportSection = "Segments"
	// SectionCases: cases opened, closed, overdue, within goal, times,
	// root causes, customers recovered.
	SectionCases ReportSection = "Cases"
	// SectionKeyDrivers: which rated attributes move the KPI most, against
	// their own score.
	SectionKeyDrivers ReportSection = "KeyDrivers"
	// SectionThemes: the most frequent themes with their sentiment.
	SectionThemes ReportSection = "Themes"
	// SectionGoals: progress towards the goals.
	SectionGoals ReportSection = "Goals"
	// SectionPredictions: predicted scores of the customers nobody asked
	// against the measured answers, coverage, and the model's quality with
	// its date (touchpoints with spec.prediction).
	SectionPredictions ReportSection = "Predictions"
)

// TrendPeriod is the bucket of a trend.
// +kubebuilder:validation:Enum=Day;Week;Month
type TrendPeriod string

// Trend periods.
const (
	TrendDay   TrendPeriod = "Day"
	TrendWeek  TrendPeriod = "Week"
	TrendMonth TrendPeriod = "Month"
)

// Comparison is what the window is compared with.
// +kubebuilder:validation:Enum=PreviousWindow;None
type Comparison string

// Comparisons.
const (
	// ComparePreviousWindow compares with the window of the same length
	// just before.
	ComparePreviousWindow Comparison = "PreviousWindow"
	// CompareNone shows no change.
	CompareNone Comparison = "None"
)

// ReportSubscriptionSpec says who gets which numbers when.
type ReportSubscriptionSpec struct {
	// title of the report, for example "Weekly installation experience".
	// +optional
	// +kubebuilder:validation:MaxLength=200
	Title string `json:"title,omitempty"`

	// schedule in cron format (minute hour day-of-month month day-of-week),
	// for example "0 8 * * MON"; descriptors such as @weekly work too.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	Schedule string `json:"schedule"`

	// timeZone of the schedule, an IANA name such as Europe/Berlin.
	// +optional
	// +kubebuilder:default=UTC
	// +kubebuilder:validation:MaxLength=64
	TimeZone string `json:"timeZone,omitempty"`

	// suspend stops scheduled runs; a manual trigger still runs.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// startingDeadline: a run missed while the manager was down runs once on
	// start when it is at most this late; later ones are skipped.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="startingDeadline must be a positive duration such as 1h"
	StartingDeadline *Duration `json:"startingDeadline,omitempty"`

	// touchpoints the report covers.
	// +required
	Touchpoints TouchpointSelection `json:"touchpoints"`

	// window the report covers, ending at the run time, for example 168h.
	// +optional
	// +kubebuilder:default="168h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^-?([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h|d|w))+$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('-') && self.matches('[1-9]')",message="window must be a positive duration such as 168h"
	Window *Duration `json:"window,omitempty"`

	// compareWith: PreviousWindow (the same length just before) or None.
	// +optional
	// +kubebuilder:default=PreviousWindow
	CompareWith Comparison `json:"compareWith,omitempty"`

	// sections included, in this order.
	// +optional
	// +listType=set
	// +kubebuilder:default={KPIs,Trend,Cases}
	// +kubebuilder:validation:MinItems=1
	Sections []ReportSection `json:"sections,omitempty"`

	// trend configures the Trend section.
	// +optional
	// +kubebuilder:default={period: Week, periods: 8}
	Trend *TrendSpec `json:"trend,omitempty"`

	// segments configures the Segments section.
	// +optional
	Segments *SegmentsSpec `json:"segments,omitempty"`

	// caseTemplates whose Cases the Cases section counts; all when empty.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=50
	// +kubebuilder:validation:items:MaxLength=253
	CaseTemplates []string `json:"caseTemplates,omitempty"`

	// goals tracked by the Goals section, one per KPI.
	// +optional
	// +listType=map
	// +listMapKey=kpi
	// +kubebuilder:validation:MaxItems=3
	Goals []Goal `json:"goals,omitempty"`

	// channels the report is delivered to (NotificationChannel names).
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=253
	Channels []string `json:"channels"`
}

// TrendSpec configures the trend chart.
type TrendSpec struct {
	// period of each point: Day, Week or Month.
	// +optional
	// +kubebuilder:default=Week
	Period TrendPeriod `json:"period,omitempty"`

	// periods shown, ending with the current one.
	// +optional
	// +kubebuilder:default=8
	// +kubebuilder:validation:Minimum=2
	// +kubebuilder:validation:Maximum=104
	Periods int32 `json:"periods,omitempty"`
}

// SegmentsSpec configures the segment breakdown.
type SegmentsSpec struct {
	// groupBy: metadata.<key>, customer.tier, customer.segment or
	// customer.attributes.<key>.
	// +required
	// +kubebuilder:validation:Pattern=`^(metadata\.[A-Za-z0-9_-]+|customer\.tier|customer\.segment|customer\.attributes\.[A-Za-z0-9_-]+)$`
	GroupBy string `json:"groupBy"`

	// top shows this many best and worst segments.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	Top int32 `json:"top,omitempty"`

	// minResponses a segment needs to be ranked.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	MinResponses int32 `json:"minResponses,omitempty"`
}

// Goal is a target for a KPI by a date.
// +kubebuilder:validation:XValidation:rule="has(self.target) != has(self.percentOfOpportunity)",message="a goal sets exactly one of target (a KPI value) or percentOfOpportunity (a share of the gap to the best score)"
type Goal struct {
	// kpi the goal is for: NPS, CSAT or CES.
	// +required
	KPI KPI `json:"kpi"`

	// target value of the KPI.
	// +optional
	Target *float64 `json:"target,omitempty"`

	// percentOfOpportunity sets the target as current + p x (max - current),
	// with p from 0 to 1; current is the KPI when the goal was set
	// (baseline).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	PercentOfOpportunity *float64 `json:"percentOfOpportunity,omitempty"`

	// baseline is the KPI value the percentOfOpportunity goal starts from;
	// by default the KPI over the first report's window.
	// +optional
	Baseline *float64 `json:"baseline,omitempty"`

	// by is the goal date (YYYY-MM-DD).
	// +required
	// +kubebuilder:validation:Pattern=`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	By string `json:"by"`
}

// ReportResult is the outcome of a report run.
// +kubebuilder:validation:Enum=Succeeded;Failed
type ReportResult string

// Report results.
const (
	ReportSucceeded ReportResult = "Succeeded"
	ReportFailed    ReportResult = "Failed"
)

// ReportSubscriptionStatus is the observed state of a subscription.
type ReportSubscriptionStatus struct {
	// observedGeneration is the generation last reconciled.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (False with InvalidSchedule or UnknownTimeZone when
	// the schedule cannot run).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// lastRunTime is the scheduled time of the last run.
	// +optional
	LastRunTime *metav1.Time `json:"lastRunTime,omitempty"`

	// nextRunTime is the next scheduled run.
	// +optional
	NextRunTime *metav1.Time `json:"nextRunTime,omitempty"`

	// lastResult of the last run: Succeeded or Failed.
	// +optional
	LastResult ReportResult `json:"lastResult,omitempty"`

	// lastResultMessage explains a failure.
	// +optional
	LastResultMessage string `json:"lastResultMessage,omitempty"`

	// deliveries of the last run, one per channel.
	// +optional
	// +listType=map
	// +listMapKey=channel
	Deliveries []DeliveryResult `json:"deliveries,omitempty"`

	// reportConfigMap holds the last rendered report as JSON.
	// +optional
	ReportConfigMap string `json:"reportConfigMap,omitempty"`

	// lastManualTrigger is the value of the run-now annotation last acted
	// on.
	// +optional
	LastManualTrigger string `json:"lastManualTrigger,omitempty"`

	// pendingRun is a run decided and not finished. It is recorded (with
	// lastRunTime and lastManualTrigger) before the report is built and
	// delivered, and cleared once every channel has its outcome, so a
	// manager stopped in between finishes that run after its restart,
	// under the same idempotency key, rather than losing it or running it
	// again.
	// +optional
	PendingRun *PendingReportRun `json:"pendingRun,omitempty"`
}

// PendingReportRun is a report run recorded as due.
type PendingReportRun struct {
	// at is the end of the run's window: the scheduled time, or the time
	// of a manual run.
	At metav1.Time `json:"at"`
	// key is the idempotency key of the run's messages.
	// +kubebuilder:validation:MaxLength=512
	Key string `json:"key"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rsub;report,categories=cx
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Time Zone",type=string,JSONPath=`.spec.timeZone`,priority=1
// +kubebuilder:printcolumn:name="Last Run",type=date,JSONPath=`.status.lastRunTime`
// +kubebuilder:printcolumn:name="Next Run",type=string,JSONPath=`.status.nextRunTime`
// +kubebuilder:printcolumn:name="Last Result",type=string,JSONPath=`.status.lastResult`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ReportSubscription says who gets which customer-experience numbers when:
// a schedule, the touchpoints, the sections and the channels.
type ReportSubscription struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the subscription.
	// +required
	Spec ReportSubscriptionSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status ReportSubscriptionStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ReportSubscriptionList is a list of ReportSubscriptions.
type ReportSubscriptionList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReportSubscription `json:"items"`
}

func init() {
	register(&ReportSubscription{}, &ReportSubscriptionList{})
}
