package metrics

import (
	"errors"
	"testing"
	"time"
)

func TestOpportunityTarget(t *testing.T) {
	tests := []struct {
		name              string
		current, maxValue float64
		p, want           float64
	}{
		// 30 + 0.2 × (100 − 30) = 30 + 14 = 44.
		{"NPS", 30, MaxNPS, 0.2, 44},
		// −20 + 0.1 × (100 + 20) = −20 + 12 = −8.
		{"negative NPS", -20, MaxNPS, 0.1, -8},
		// 80 + 0.5 × 20 = 90.
		{"CSAT %", 80, MaxPercent, 0.5, 90},
		// 5.2 + 0.25 × (7 − 5.2) = 5.2 + 0.45 = 5.65.
		{"CES on 1-7", 5.2, float64(CESScale.Max), 0.25, 5.65},
		{"already at max", 100, MaxNPS, 0.5, 100},
		{"p = 0 keeps the current value", 42, MaxNPS, 0, 42},
		{"p = 1 is the max", 42, MaxNPS, 1, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OpportunityTarget(tt.current, tt.maxValue, tt.p); !approx(got, tt.want) {
				t.Errorf("OpportunityTarget(%v, %v, %v) = %v, want %v", tt.current, tt.maxValue, tt.p, got, tt.want)
			}
		})
	}
}

var day0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

func day(d float64) time.Time { return day0.Add(time.Duration(d * 24 * float64(time.Hour))) }

func TestFitTrend(t *testing.T) {
	// Exact line 10, 12, 14 on days 0-2 (given out of order): slope 2/day,
	// 10 at day 0, 30 at day 10.
	tr, err := FitTrend([]Point{{day(2), 14}, {day(0), 10}, {day(1), 12}})
	if err != nil {
		t.Fatal(err)
	}
	if !approx(tr.SlopePerDay, 2) || !approx(tr.Intercept, 10) || !tr.Origin.Equal(day0) || tr.N != 3 {
		t.Errorf("trend = %+v, want slope 2, intercept 10 at day 0", tr)
	}
	if got := tr.At(day(10)); !approx(got, 30) {
		t.Errorf("At(day 10) = %v, want 30", got)
	}

	// Noisy: (0,10) (1,13) (2,14) (3,15). x̄ = 1.5, ȳ = 13;
	// Σ(x−x̄)² = 2.25+0.25+0.25+2.25 = 5; Σ(x−x̄)(y−ȳ) = 4.5+0+0.5+3 = 8;
	// slope = 8/5 = 1.6; intercept = 13 − 1.6 × 1.5 = 10.6; day 10: 26.6.
	tr, err = FitTrend([]Point{{day(0), 10}, {day(1), 13}, {day(2), 14}, {day(3), 15}})
	if err != nil {
		t.Fatal(err)
	}
	if !approx(tr.SlopePerDay, 1.6) || !approx(tr.Intercept, 10.6) || !approx(tr.At(day(10)), 26.6) {
		t.Errorf("trend = %+v, At(10) = %v; want slope 1.6, intercept 10.6, 26.6", tr, tr.At(day(10)))
	}

	// Weekly points a year apart keep their precision: 7-day steps of +1.
	var weekly []Point
	for i := range 52 {
		weekly = append(weekly, Point{day(float64(7 * i)), float64(20 + i)})
	}
	tr, err = FitTrend(weekly)
	if err != nil || !approx(tr.SlopePerDay, 1.0/7) || !approx(tr.At(day(7*60)), 80) {
		t.Errorf("weekly trend = %+v, %v", tr, err)
	}

	if _, err := FitTrend([]Point{{day(0), 1}}); !errors.Is(err, ErrNoData) {
		t.Errorf("one point: err = %v, want ErrNoData", err)
	}
	if _, err := FitTrend(nil); !errors.Is(err, ErrNoData) {
		t.Errorf("no points: err = %v, want ErrNoData", err)
	}
	if _, err := FitTrend([]Point{{day(1), 1}, {day(1), 2}}); !errors.Is(err, ErrZeroVariance) {
		t.Errorf("same time: err = %v, want ErrZeroVariance", err)
	}
}

func TestOnTrack(t *testing.T) {
	points := []Point{{day(0), 10}, {day(1), 12}, {day(2), 14}}
	tests := []struct {
		name     string
		goal     float64
		date     time.Time
		want     bool
		wantProj float64
	}{
		// The line reaches 30 on day 10.
		{"reaches the goal exactly", 30, day(10), true, 30},
		{"short of the goal", 31, day(10), false, 30},
		{"past the goal", 20, day(10), true, 30},
		{"goal date too soon", 30, day(5), false, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, proj, err := OnTrack(points, tt.goal, tt.date)
			if err != nil || ok != tt.want || !approx(proj, tt.wantProj) {
				t.Errorf("OnTrack = %v, %v, %v; want %v, %v", ok, proj, err, tt.want, tt.wantProj)
			}
		})
	}
	// A falling trend is off track even when the current value is above the goal.
	ok, _, _ := OnTrack([]Point{{day(0), 50}, {day(7), 45}}, 40, day(28))
	if ok {
		t.Errorf("falling from 50 by 5 a week reaches 30 in 4 weeks: not on track for 40")
	}
	if _, _, err := OnTrack(points[:1], 30, day(10)); !errors.Is(err, ErrNoData) {
		t.Errorf("one point: err = %v", err)
	}
}
