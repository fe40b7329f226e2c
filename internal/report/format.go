package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
)

// formatCount writes n with thousands separators: 12,345.
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// decimals is how many decimals a KPI is shown with: one for NPS and CSAT
// (points and percent), two for CES (a mean on a short scale).
func decimals(kpi cxv1alpha1.KPI) int {
	if kpi == cxv1alpha1.KPICES {
		return 2
	}
	return 1
}

// formatValue writes a KPI value: "32.5" for NPS, "85.2%" for CSAT, "5.43"
// for CES.
func formatValue(kpi cxv1alpha1.KPI, v float64) string {
	s := strconv.FormatFloat(round(v, decimals(kpi)), 'f', decimals(kpi), 64)
	if kpi == cxv1alpha1.KPICSAT {
		s += "%"
	}
	return s
}

// formatDelta writes a change with its sign: "+4.2", "-0.15", "±0.0".
func formatDelta(kpi cxv1alpha1.KPI, d float64) string {
	r := round(d, decimals(kpi))
	s := strconv.FormatFloat(math.Abs(r), 'f', decimals(kpi), 64)
	switch {
	case r > 0:
		return "+" + s
	case r < 0:
		return "-" + s
	}
	return "±" + s
}

// formatKPI writes a KPI with its margin of error: "32.5 ±4.1 (n=412)".
func formatKPI(kpi cxv1alpha1.KPI, k *metrics.KPI) string {
	if k == nil {
		return "no answers"
	}
	s := formatValue(kpi, k.Value)
	if k.HasMargin() {
		s += " ±" + strconv.FormatFloat(round(k.MarginOfError, decimals(kpi)), 'f', decimals(kpi), 64)
	}
	return s
}

// formatDuration writes a duration in the largest sensible units: "3d 4h",
// "5h 20m", "45m", "30s".
func formatDuration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		days, h := d/(24*time.Hour), (d%(24*time.Hour)+30*time.Minute)/time.Hour
		if h == 24 {
			days, h = days+1, 0
		}
		return fmt.Sprintf("%dd %dh", days, h)
	case d >= time.Hour:
		return fmt.Sprintf("%dh %dm", d/time.Hour, (d%time.Hour)/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

func formatPercent(p float64) string {
	return strconv.FormatFloat(round(p, 1), 'f', 1, 64) + "%"
}

func round(v float64, decimals int) float64 {
	p := math.Pow(10, float64(decimals))
	r := math.Round(v*p) / p
	if r == 0 {
		return 0 // no "-0.0"
	}
	return r
}

// plural writes "1 segment", "3 segments".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// formatMoney writes a whole amount with thousands separators and the
// currency code: "12,400 EUR", "-350 EUR".
func formatMoney(v float64, currency string) string {
	return formatCount(int64(math.Round(v))) + " " + currency
}

// formatHours writes hours of work with one decimal: "3.5 h".
func formatHours(h float64) string {
	return strconv.FormatFloat(round(h, 1), 'f', -1, 64) + " h"
}
