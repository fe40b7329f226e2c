package metrics

import (
	"errors"
	"fmt"
	"math"
)

// ErrNoData is returned by a KPI computed from no answers.
var ErrNoData = errors.New("no answers to compute the metric from")

// Z95 is the two-sided 95% quantile of the normal distribution, used for
// every margin of error here.
const Z95 = 1.96

// KPI is a metric computed from N answers, with its margin of error.
type KPI struct {
	// Value of the metric, in its unit: points for NPS (-100..100), percent
	// for CSAT and yes-rate, scale points for a mean, -1..1 for sentiment.
	Value float64 `json:"value"`
	// N is the number of answers it was computed from.
	N int64 `json:"n"`
	// MarginOfError is the half-width of the 95% confidence interval, in
	// the unit of Value: the true value lies in Value ± MarginOfError with
	// 95% confidence (normal approximation). It is 0 when N < 2, where it is
	// unknown rather than zero; see HasMargin.
	MarginOfError float64 `json:"marginOfError"`
}

// HasMargin reports whether MarginOfError is meaningful: it needs at least
// two answers.
func (k KPI) HasMargin() bool { return k.N >= 2 }

// NPS is the Net Promoter Score of an NPS question: % promoters (9-10) minus
// % detractors (0-6), from -100 to 100, over the promoters, passives and
// detractors counted.
//
// Its margin of error treats each answer as a variable worth +1 (promoter),
// 0 (passive) or -1 (detractor), whose mean is NPS/100 and whose variance is
// var = p + d - (p - d)² for the shares p of promoters and d of detractors:
// MoE = 1.96 × sqrt(var / n) × 100.
func NPS(q QuestionAggregate) (KPI, error) {
	n := q.Promoters + q.Passives + q.Detractors
	if n == 0 {
		return KPI{}, ErrNoData
	}
	p := float64(q.Promoters) / float64(n)
	d := float64(q.Detractors) / float64(n)
	k := KPI{Value: (p - d) * 100, N: n}
	if n >= 2 {
		k.MarginOfError = MarginOfErrorNPS(q.Promoters, q.Passives, q.Detractors)
	}
	return k, nil
}

// MarginOfErrorNPS is the 95% margin of error of an NPS, in NPS points, from
// the counts of promoters, passives and detractors (see NPS). It is 0 with no
// answers.
func MarginOfErrorNPS(promoters, passives, detractors int64) float64 {
	n := promoters + passives + detractors
	if n == 0 {
		return 0
	}
	p := float64(promoters) / float64(n)
	d := float64(detractors) / float64(n)
	variance := max(p+d-(p-d)*(p-d), 0)
	return Z95 * math.Sqrt(variance/float64(n)) * 100
}

// CSAT is the percentage of top-two-box answers of a question (4-5 on a
// 1-5 scale; the two highest values of its scale otherwise), over its numeric
// answers, with the margin of error of a proportion (in percentage points).
// The mean, the other CSAT figure, is Mean.
func CSAT(q QuestionAggregate) (KPI, error) {
	return percent(q.TopTwoBox, q.Count)
}

// YesRate is the percentage of "yes" among the answers to a YesNo question
// (for example installations completed), with its margin of error.
func YesRate(q QuestionAggregate) (KPI, error) {
	return percent(q.Yes, q.Yes+q.No)
}

func percent(hits, n int64) (KPI, error) {
	if n == 0 {
		return KPI{}, ErrNoData
	}
	p := float64(hits) / float64(n)
	k := KPI{Value: p * 100, N: n}
	if n >= 2 {
		k.MarginOfError = MarginOfErrorProportion(p, n) * 100
	}
	return k, nil
}

// MarginOfErrorProportion is the 95% margin of error of a proportion p
// (0..1) measured on n answers: 1.96 × sqrt(p(1−p)/n), as a proportion. It
// is 0 when n is 0.
func MarginOfErrorProportion(p float64, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return Z95 * math.Sqrt(max(p*(1-p), 0)/float64(n))
}

// Mean is the mean of a question's numeric answers (the CSAT mean, the CES,
// the score of a rating), with the margin of error of a mean.
func Mean(q QuestionAggregate) (KPI, error) {
	return mean(float64(q.Sum), float64(q.SumSquares), q.Count)
}

// CES is the Customer Effort Score: the mean answer on the question's scale
// (1-7 by default, higher is easier).
func CES(q QuestionAggregate) (KPI, error) { return Mean(q) }

// MeanSentiment is the mean sentiment score (-1..1) of the responses that
// had one, with the margin of error of a mean.
func MeanSentiment(a Aggregate) (KPI, error) {
	return mean(a.SentimentSum, a.SentimentSumSquares, a.SentimentCount)
}

func mean(sum, sumSquares float64, n int64) (KPI, error) {
	if n == 0 {
		return KPI{}, ErrNoData
	}
	k := KPI{Value: sum / float64(n), N: n}
	if n >= 2 {
		k.MarginOfError = MarginOfErrorMean(SampleStdDev(sum, sumSquares, n), n)
	}
	return k, nil
}

// SampleStdDev is the sample standard deviation s (divisor n−1) of n values
// from their sum and sum of squares; 0 when n < 2.
func SampleStdDev(sum, sumSquares float64, n int64) float64 {
	if n < 2 {
		return 0
	}
	nf := float64(n)
	// (Σx² − (Σx)²/n) / (n−1); rounding can make a zero variance
	// slightly negative.
	variance := (sumSquares - sum*sum/nf) / (nf - 1)
	return math.Sqrt(max(variance, 0))
}

// MarginOfErrorMean is the 95% margin of error of a mean of n values with
// sample standard deviation s: 1.96 × s / sqrt(n). It is 0 when n is 0.
func MarginOfErrorMean(s float64, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return Z95 * s / math.Sqrt(float64(n))
}

// SignificantChange reports whether the difference between two measures of
// the same KPI (two windows, two segments) is larger than the combined
// margin of error sqrt(moe_a² + moe_b²), so that it is unlikely to be noise
// of the sample sizes. It is false when either side has fewer than two
// answers.
func SignificantChange(a, b KPI) bool {
	if !a.HasMargin() || !b.HasMargin() {
		return false
	}
	return math.Abs(b.Value-a.Value) > math.Hypot(a.MarginOfError, b.MarginOfError)
}

// Change is a KPI's movement between a previous and a current window.
type Change struct {
	// Current and Previous are the KPI in the two windows.
	Current  KPI `json:"current"`
	Previous KPI `json:"previous"`
	// Delta is Current.Value − Previous.Value.
	Delta float64 `json:"delta"`
	// Significant: the delta exceeds the combined margin of error.
	Significant bool `json:"significant"`
}

// Compare returns the change from previous to current.
func Compare(previous, current KPI) Change {
	return Change{
		Current:     current,
		Previous:    previous,
		Delta:       current.Value - previous.Value,
		Significant: SignificantChange(previous, current),
	}
}

// ForKPI computes the KPI named kpi ("NPS", "CSAT" or "CES", the KPI names
// of the API) from a question's answers.
func ForKPI(kpi string, q QuestionAggregate) (KPI, error) {
	switch kpi {
	case "NPS":
		return NPS(q)
	case "CSAT":
		return CSAT(q)
	case "CES":
		return CES(q)
	}
	return KPI{}, fmt.Errorf("unknown KPI %q: use NPS, CSAT or CES", kpi)
}
