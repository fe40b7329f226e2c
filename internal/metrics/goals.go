package metrics

import (
	"math"
	"time"
)

// Highest values of the KPIs, the "max" of a percent-of-opportunity goal.
// For a mean (CES, a rating) it is the question's Scale.Max.
const (
	MaxNPS     = 100.0
	MaxPercent = 100.0 // CSAT top-two-box and other percentages
)

// OpportunityTarget is a percent-of-opportunity goal: closing the fraction p
// (0.25 for 25%) of the gap between the current value and the best possible
// one, target = current + p × (max − current). An NPS of 30 with p = 0.2
// aims at 30 + 0.2 × 70 = 44.
func OpportunityTarget(current, maxValue, p float64) float64 {
	return current + p*(maxValue-current)
}

// Point is a KPI measured at a time (a day's or week's value).
type Point struct {
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

// Trend is the least-squares line through points: Value ≈ Intercept +
// SlopePerDay × (days since Origin).
type Trend struct {
	// Origin is the time of the first point.
	Origin time.Time `json:"origin"`
	// Intercept is the line's value at Origin.
	Intercept float64 `json:"intercept"`
	// SlopePerDay is the change per day (24 hours).
	SlopePerDay float64 `json:"slopePerDay"`
	// N is the number of points fitted.
	N int `json:"n"`
}

// At is the line's value at t (extrapolated beyond the points).
func (t Trend) At(at time.Time) float64 {
	return t.Intercept + t.SlopePerDay*days(at.Sub(t.Origin))
}

func days(d time.Duration) float64 { return d.Hours() / 24 }

// FitTrend fits the least-squares line through points (in any order): slope
// = Σ(x−x̄)(y−ȳ) / Σ(x−x̄)², through (x̄, ȳ), with x in days. It needs two
// points (ErrNoData) at two different times (ErrZeroVariance).
func FitTrend(points []Point) (Trend, error) {
	if len(points) < 2 {
		return Trend{}, ErrNoData
	}
	origin := points[0].Time
	for _, p := range points[1:] {
		if p.Time.Before(origin) {
			origin = p.Time
		}
	}
	n := float64(len(points))
	var mx, my float64
	for _, p := range points {
		mx += days(p.Time.Sub(origin))
		my += p.Value
	}
	mx /= n
	my /= n
	var sxx, sxy float64
	for _, p := range points {
		dx := days(p.Time.Sub(origin)) - mx
		sxx += dx * dx
		sxy += dx * (p.Value - my)
	}
	if sxx == 0 {
		return Trend{}, ErrZeroVariance
	}
	slope := sxy / sxx
	return Trend{Origin: origin, Intercept: my - slope*mx, SlopePerDay: slope, N: len(points)}, nil
}

// OnTrack extrapolates the trend of points to date and reports whether it
// reaches goal then (every KPI here is better higher, CES included), with
// the projected value. A projection within 1e-9 of the goal counts as
// reaching it.
func OnTrack(points []Point, goal float64, date time.Time) (onTrack bool, projected float64, err error) {
	t, err := FitTrend(points)
	if err != nil {
		return false, 0, err
	}
	projected = t.At(date)
	return projected >= goal-1e-9*math.Max(1, math.Abs(goal)), projected, nil
}
