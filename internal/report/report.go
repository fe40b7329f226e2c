package report

import (
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
)

// Report is the content of one run of a ReportSubscription: what the report
// ConfigMap keeps, webhooks receive as JSON, and the HTML and text
// renderings show.
type Report struct {
	// Title of the report.
	Title string `json:"title"`
	// Namespace and Subscription name the ReportSubscription.
	Namespace    string `json:"namespace"`
	Subscription string `json:"subscription"`
	// TimeZone the times are shown in (the schedule's).
	TimeZone string `json:"timeZone"`
	// Window is the period reported on; it ends at the run time.
	Window Window `json:"window"`
	// Previous is the comparison window, nil when compareWith is None.
	Previous *Window `json:"previousWindow,omitempty"`
	// Touchpoints covered, by name.
	Touchpoints []Touchpoint `json:"touchpoints"`
	// Responses submitted in the window, all touchpoints.
	Responses int64 `json:"responses"`
	// Sections in the order the subscription lists them.
	Sections []Section `json:"sections"`
}

// Window is the half-open interval [From, To) of submission times.
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Touchpoint names a covered SurveyTouchpoint.
type Touchpoint struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName,omitempty"`
}

// label is the name people read: the display name when set.
func (t Touchpoint) label() string {
	if t.DisplayName != "" {
		return t.DisplayName
	}
	return t.Name
}

// Section is one part of a report; exactly the field matching Kind is set.
type Section struct {
	// Kind of the section, as listed in spec.sections.
	Kind cxv1alpha1.ReportSection `json:"kind"`
	// Title is the heading.
	Title string `json:"title"`
	// Basis says what the section was computed from: the window, the
	// responses or cases counted.
	Basis string `json:"basis"`

	KPIs       *KPIs       `json:"kpis,omitempty"`
	Trend      *Trend      `json:"trend,omitempty"`
	Segments   *Segments   `json:"segments,omitempty"`
	Cases      *CaseStats  `json:"cases,omitempty"`
	KeyDrivers *KeyDrivers `json:"keyDrivers,omitempty"`
	Themes     *Themes     `json:"themes,omitempty"`
	Goals      *Goals      `json:"goals,omitempty"`
	// Predictions is the Predictions section (predict.go).
	Predictions *Predictions `json:"predictions,omitempty"`
}

// KPIs is the KPIs section: one row per touchpoint and an overall row.
type KPIs struct {
	// Rows: the overall row first (Touchpoint ""), then each touchpoint.
	Rows []KPIRow `json:"rows"`
}

// KPIRow holds the KPIs of one touchpoint, or of all of them merged.
type KPIRow struct {
	// Touchpoint name; "" for the overall row.
	Touchpoint string `json:"touchpoint,omitempty"`
	// Label is the row's heading.
	Label string `json:"label"`
	// Responses in the window, and in the comparison window (nil without
	// one).
	Responses         int64  `json:"responses"`
	PreviousResponses *int64 `json:"previousResponses,omitempty"`
	// NPS, CSAT and CES; nil when no question of the row feeds the KPI.
	NPS  *KPIValue `json:"nps,omitempty"`
	CSAT *KPIValue `json:"csat,omitempty"`
	CES  *KPIValue `json:"ces,omitempty"`
}

// Value returns the row's value of kpi (nil when absent).
func (r KPIRow) Value(kpi cxv1alpha1.KPI) *KPIValue { return byKPI(kpi, r.NPS, r.CSAT, r.CES) }

// byKPI picks the one of nps, csat and ces that kpi names.
func byKPI[T any](kpi cxv1alpha1.KPI, nps, csat, ces T) T {
	switch kpi {
	case cxv1alpha1.KPINPS:
		return nps
	case cxv1alpha1.KPICSAT:
		return csat
	case cxv1alpha1.KPICES:
		return ces
	}
	var none T
	return none
}

// KPIValue is a KPI in the window and the comparison window.
type KPIValue struct {
	// Current is the KPI in the window; nil when nobody answered.
	Current *metrics.KPI `json:"current,omitempty"`
	// Previous is the KPI in the comparison window; nil without one or
	// when nobody answered then.
	Previous *metrics.KPI `json:"previous,omitempty"`
	// Delta is Current − Previous when both exist.
	Delta *float64 `json:"delta,omitempty"`
	// Significant: the delta exceeds the combined 95% margin of error, so it
	// is unlikely to be noise of the sample sizes.
	Significant bool `json:"significant"`
}

// Trend is the Trend section: a KPI per period over the last periods.
type Trend struct {
	// Period of each point: Day, Week or Month.
	Period cxv1alpha1.TrendPeriod `json:"period"`
	// Periods are the buckets, oldest first; they end at the window's end.
	Periods []Window `json:"periods"`
	// Responses per period, all touchpoints.
	Responses []int64 `json:"responses"`
	// Series: one per KPI with answers in any period.
	Series []TrendSeries `json:"series"`
}

// TrendSeries is one KPI over the periods.
type TrendSeries struct {
	KPI cxv1alpha1.KPI `json:"kpi"`
	// Points, one per period (Value nil when nobody answered).
	Points []TrendPoint `json:"points"`
}

// TrendPoint is a KPI in one period.
type TrendPoint struct {
	Value         *float64 `json:"value,omitempty"`
	N             int64    `json:"n"`
	MarginOfError float64  `json:"marginOfError"`
}

// Segments is the Segments section: the KPI by a grouping, best and worst.
type Segments struct {
	// GroupBy is the grouping, for example customer.tier.
	GroupBy string `json:"groupBy"`
	// KPI the segments are ranked by (the first of NPS, CSAT, CES with
	// answers).
	KPI cxv1alpha1.KPI `json:"kpi,omitempty"`
	// MinResponses a segment needs to be ranked.
	MinResponses int64 `json:"minResponses"`
	// Best and Worst segments, best first and worst first.
	Best  []Segment `json:"best"`
	Worst []Segment `json:"worst"`
	// Ranked counts the segments ranked; Unranked those with too few
	// answers.
	Ranked   int `json:"ranked"`
	Unranked int `json:"unranked"`
}

// Segment is one group value with its KPIs.
type Segment struct {
	// Value of the grouping; "" for responses without one.
	Value     string       `json:"value"`
	Responses int64        `json:"responses"`
	NPS       *metrics.KPI `json:"nps,omitempty"`
	CSAT      *metrics.KPI `json:"csat,omitempty"`
	CES       *metrics.KPI `json:"ces,omitempty"`
}

// KPI returns the segment's value of kpi (nil when absent).
func (s Segment) KPI(kpi cxv1alpha1.KPI) *metrics.KPI { return byKPI(kpi, s.NPS, s.CSAT, s.CES) }

// CaseStats is the Cases section.
type CaseStats struct {
	// Opened in the window (status.openedAt).
	Opened int `json:"opened"`
	// Closed in the window (status.closedAt).
	Closed int `json:"closed"`
	// OpenNow: opened before the window's end and not closed by then.
	OpenNow int `json:"openNow"`
	// Overdue: open at the window's end and past their dueAt.
	Overdue int `json:"overdue"`
	// ClosedWithinGoal counts the Cases closed in the window by their dueAt,
	// of ClosedWithGoal closed ones that had a dueAt.
	ClosedWithinGoal int `json:"closedWithinGoal"`
	ClosedWithGoal   int `json:"closedWithGoal"`
	// ClosedWithinGoalPercent is ClosedWithinGoal / ClosedWithGoal × 100;
	// nil when no closed Case had a goal.
	ClosedWithinGoalPercent *float64 `json:"closedWithinGoalPercent,omitempty"`
	// MedianTimeToFirstAction over the Cases opened in the window that had
	// a first action, from openedAt to firstActionAt.
	MedianTimeToFirstAction *cxv1alpha1.Duration `json:"medianTimeToFirstAction,omitempty"`
	// FirstActions is how many Cases that median is over.
	FirstActions int `json:"firstActions"`
	// MedianTimeToClose over the Cases closed in the window.
	MedianTimeToClose *cxv1alpha1.Duration `json:"medianTimeToClose,omitempty"`
	// RootCauses of the Cases closed in the window, most frequent first
	// (at most five).
	RootCauses []Count `json:"rootCauses,omitempty"`
	// Recovered counts the Cases closed in the window whose customer was
	// recovered, of RecoveryKnown that say whether.
	Recovered     int `json:"recovered"`
	RecoveryKnown int `json:"recoveryKnown"`
	// Return is the return on acting, per currency, of the Cases whose
	// template declares a value (see ReturnOnActing); empty without one.
	Return []CaseReturn `json:"return,omitempty"`
}

// Count is a named count.
type Count struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// KeyDrivers is the KeyDrivers section: one analysis per touchpoint with
// driver questions.
type KeyDrivers struct {
	Analyses []DriverAnalysis `json:"analyses"`
}

// DriverAnalysis is the key-driver analysis of one touchpoint.
type DriverAnalysis struct {
	Touchpoint string `json:"touchpoint"`
	// KPI and its question the drivers are measured against.
	KPI      cxv1alpha1.KPI `json:"kpi"`
	Question string         `json:"question"`
	// Labels are the texts of the driver questions, by id.
	Labels map[string]string `json:"labels,omitempty"`
	metrics.KeyDriverAnalysis
	// FixFirst lists the drivers of high impact and low score.
	FixFirst []string `json:"fixFirst,omitempty"`
}

// Themes is the Themes section.
type Themes struct {
	// Items: the most frequent themes, most frequent first.
	Items []Theme `json:"items"`
	// Other counts the themes left out.
	Other int `json:"other,omitempty"`
}

// Theme is one theme's frequency and sentiment.
type Theme struct {
	Name string `json:"name"`
	// Count of responses in the window mentioning it.
	Count int64 `json:"count"`
	// Share of the window's responses, in percent.
	Share float64 `json:"share"`
	// Sentiment is the mean sentiment (-1..1) of those responses; nil when
	// none was scored.
	Sentiment *float64 `json:"sentiment,omitempty"`
	// PreviousCount in the comparison window (nil without one), and the
	// change of Count.
	PreviousCount *int64 `json:"previousCount,omitempty"`
	Change        *int64 `json:"change,omitempty"`
}

// Goals is the Goals section.
type Goals struct {
	Items []GoalProgress `json:"items"`
}

// GoalStatus says where a goal stands.
type GoalStatus string

// Goal statuses.
const (
	// GoalReached: the KPI in the window is at or above the target.
	GoalReached GoalStatus = "Reached"
	// GoalOnTrack: the trend reaches the target by the goal date.
	GoalOnTrack GoalStatus = "OnTrack"
	// GoalOffTrack: the trend falls short of the target at the goal date.
	GoalOffTrack GoalStatus = "OffTrack"
	// GoalUnknown: too little data for a trend (see Note).
	GoalUnknown GoalStatus = "Unknown"
)

// GoalProgress is one goal's target, current value and projection.
type GoalProgress struct {
	KPI cxv1alpha1.KPI `json:"kpi"`
	// Target value of the KPI.
	Target float64 `json:"target"`
	// PercentOfOpportunity and Baseline, for a percent-of-opportunity goal:
	// Target = Baseline + p × (max − Baseline).
	PercentOfOpportunity *float64 `json:"percentOfOpportunity,omitempty"`
	Baseline             *float64 `json:"baseline,omitempty"`
	// By is the goal date (YYYY-MM-DD).
	By string `json:"by"`
	// Current is the KPI in the window.
	Current *metrics.KPI `json:"current,omitempty"`
	// Projected is the trend's value on the goal date.
	Projected *float64   `json:"projected,omitempty"`
	Status    GoalStatus `json:"status"`
	// Note explains an Unknown status or how the baseline was chosen.
	Note string `json:"note,omitempty"`
}
