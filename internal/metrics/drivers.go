package metrics

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrZeroVariance is returned by a correlation when one of the two variables
// never varies (everyone gave the same answer): it says nothing about the
// other.
var ErrZeroVariance = errors.New("a variable has no variance")

// ErrSingular is returned when drivers are so correlated with each other
// (or so few responses answered them all) that their separate weights cannot
// be told apart.
var ErrSingular = errors.New("drivers are linearly dependent")

// Correlation is the Pearson correlation coefficient r (-1..1) of X and Y
// over the responses that answered both:
//
//	r = (nΣxy − ΣxΣy) / sqrt((nΣx² − (Σx)²)(nΣy² − (Σy)²))
//
// It needs two pairs (ErrNoData) and some variance in both X and Y
// (ErrZeroVariance).
func Correlation(p PairedSums) (float64, error) {
	if p.N < 2 {
		return 0, ErrNoData
	}
	n := float64(p.N)
	sxy := n*p.SumXY - p.SumX*p.SumY
	sxx := n*p.SumXX - p.SumX*p.SumX
	syy := n*p.SumYY - p.SumY*p.SumY
	// Relative tolerance: with integer answers an exact zero comes out as 0,
	// but sums of fractional values leave rounding dust.
	if sxx <= 1e-12*n*p.SumXX || syy <= 1e-12*n*p.SumYY {
		return 0, ErrZeroVariance
	}
	r := sxy / math.Sqrt(sxx*syy)
	return max(-1, min(1, r)), nil
}

// StandardizedWeights are the standardized regression weights (beta) of
// drivers on a KPI: the solution β of Rβ = r, the normal equations of the
// regression of standardized variables, where R is the drivers' correlation
// matrix (R[i][j] = corr(driver i, driver j), ones on the diagonal) and r[i]
// = corr(driver i, KPI). With one driver β = r. A weight says how much the
// KPI moves, in standard deviations, per standard deviation of the driver
// with the other drivers held constant.
func StandardizedWeights(r []float64, R [][]float64) ([]float64, error) {
	n := len(r)
	if len(R) != n {
		return nil, fmt.Errorf("correlation matrix is %dx?, want %dx%d", len(R), n, n)
	}
	// Gaussian elimination with partial pivoting on the augmented [R | r].
	m := make([][]float64, n)
	for i := range R {
		if len(R[i]) != n {
			return nil, fmt.Errorf("correlation matrix row %d has %d columns, want %d", i, len(R[i]), n)
		}
		m[i] = append(slices.Clone(R[i]), r[i])
	}
	for col := range n {
		pivot := col
		for row := col + 1; row < n; row++ {
			if math.Abs(m[row][col]) > math.Abs(m[pivot][col]) {
				pivot = row
			}
		}
		// Correlation matrices are scaled to 1, so an absolute threshold is
		// a condition-number bound.
		if math.Abs(m[pivot][col]) < 1e-9 {
			return nil, ErrSingular
		}
		m[col], m[pivot] = m[pivot], m[col]
		for row := col + 1; row < n; row++ {
			f := m[row][col] / m[col][col]
			for k := col; k <= n; k++ {
				m[row][k] -= f * m[col][k]
			}
		}
	}
	beta := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := m[i][n]
		for k := i + 1; k < n; k++ {
			s -= m[i][k] * beta[k]
		}
		beta[i] = s / m[i][i]
	}
	return beta, nil
}

// Priority is a driver's quadrant in an importance-performance analysis.
type Priority string

// Priorities. Impact is high when the driver's |correlation| is above the
// median of the drivers analysed; its score is low when its normalized score
// is below their median.
const (
	// PriorityFixFirst: high impact, low score. Improve these first.
	PriorityFixFirst Priority = "FixFirst"
	// PriorityKeepUp: high impact, high score. Strengths to protect.
	PriorityKeepUp Priority = "KeepUp"
	// PriorityLowPriority: low impact, low score.
	PriorityLowPriority Priority = "LowPriority"
	// PriorityPossibleOverkill: low impact, high score.
	PriorityPossibleOverkill Priority = "PossibleOverkill"
)

// DriverQuestion is a question whose influence on the KPI is measured.
type DriverQuestion struct {
	// ID of the question.
	ID string `json:"id"`
	// Scale of its answers, to normalise its score.
	Scale Scale `json:"scale"`
}

// Driver is the result of key-driver analysis for one driver question.
type Driver struct {
	// ID of the driver question.
	ID string `json:"id"`
	// N is the number of responses that answered both it and the KPI
	// question, the base of Correlation.
	N int64 `json:"n"`
	// Correlation (Pearson r) of the driver with the KPI question.
	Correlation float64 `json:"correlation"`
	// Weight is the standardized regression weight among all the drivers
	// analysed; nil when it could not be computed (see KeyDriverAnalysis).
	Weight *float64 `json:"weight,omitempty"`
	// Score is the mean answer to the driver question.
	Score float64 `json:"score"`
	// NormalizedScore is Score on 0..1 over the question's scale:
	// (Score − min) / (max − min).
	NormalizedScore float64 `json:"normalizedScore"`
	// Priority is the driver's quadrant (set by Classify).
	Priority Priority `json:"priority"`
}

// SkippedDriver is a driver question left out of the analysis, and why.
type SkippedDriver struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// KeyDriverAnalysis says which attributes move a KPI.
type KeyDriverAnalysis struct {
	// KPI is the question id of the KPI.
	KPI string `json:"kpi"`
	// Drivers analysed, by decreasing |Correlation|.
	Drivers []Driver `json:"drivers"`
	// Skipped drivers, with the reason.
	Skipped []SkippedDriver `json:"skipped,omitempty"`
	// WeightsUnavailable says why the drivers have no Weight, if they
	// have none.
	WeightsUnavailable string `json:"weightsUnavailable,omitempty"`
}

// KeyDrivers analyses drivers against the KPI question kpi from the paired
// sums and question aggregates in a: each driver's correlation with the KPI,
// the standardized regression weights of all of them together (which needs
// the pairs of every two drivers as well), its score, and its priority
// (Classify). A driver without data enough for a correlation (fewer than
// minPairs responses answering both, at least 2, or no variance) is skipped
// with the reason.
func KeyDrivers(a Aggregate, kpi string, drivers []DriverQuestion, minPairs int64) KeyDriverAnalysis {
	out := KeyDriverAnalysis{KPI: kpi}
	minPairs = max(minPairs, 2)
	for _, d := range drivers {
		if d.Scale.Max <= d.Scale.Min {
			out.Skipped = append(out.Skipped, SkippedDriver{d.ID, fmt.Sprintf("scale %d..%d is empty", d.Scale.Min, d.Scale.Max)})
			continue
		}
		p := a.Pair(d.ID, kpi)
		if p.N < minPairs {
			out.Skipped = append(out.Skipped, SkippedDriver{d.ID, fmt.Sprintf("%d responses answered both it and %s, want at least %d", p.N, kpi, minPairs)})
			continue
		}
		r, err := Correlation(p)
		if err != nil {
			out.Skipped = append(out.Skipped, SkippedDriver{d.ID, fmt.Sprintf("correlation with %s: %v", kpi, err)})
			continue
		}
		score := p.SumX / float64(p.N)
		if q := a.Questions[d.ID]; q.Count > 0 {
			score = float64(q.Sum) / float64(q.Count)
		}
		out.Drivers = append(out.Drivers, Driver{
			ID:              d.ID,
			N:               p.N,
			Correlation:     r,
			Score:           score,
			NormalizedScore: (score - float64(d.Scale.Min)) / float64(d.Scale.Max-d.Scale.Min),
		})
	}
	if len(out.Drivers) == 0 {
		return out
	}

	weights, err := driverWeights(a, out.Drivers)
	if err != nil {
		out.WeightsUnavailable = err.Error()
	} else {
		for i := range out.Drivers {
			out.Drivers[i].Weight = &weights[i]
		}
	}
	Classify(out.Drivers)
	slices.SortStableFunc(out.Drivers, func(x, y Driver) int {
		return cmp.Compare(math.Abs(y.Correlation), math.Abs(x.Correlation))
	})
	return out
}

func driverWeights(a Aggregate, drivers []Driver) ([]float64, error) {
	n := len(drivers)
	r := make([]float64, n)
	R := make([][]float64, n)
	for i := range drivers {
		r[i] = drivers[i].Correlation
		R[i] = make([]float64, n)
		R[i][i] = 1
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			c, err := Correlation(a.Pair(drivers[i].ID, drivers[j].ID))
			if err != nil {
				return nil, fmt.Errorf("correlation of %s and %s: %w", drivers[i].ID, drivers[j].ID, err)
			}
			R[i][j], R[j][i] = c, c
		}
	}
	return StandardizedWeights(r, R)
}

// Classify sets the Priority of each driver from the medians of |Correlation|
// and NormalizedScore over drivers: high impact is strictly above the median
// |r|, low score strictly below the median normalized score. With one driver
// (or all equal) nothing is above or below the median: no driver is
// FixFirst.
func Classify(drivers []Driver) {
	if len(drivers) == 0 {
		return
	}
	impacts := make([]float64, len(drivers))
	scores := make([]float64, len(drivers))
	for i, d := range drivers {
		impacts[i] = math.Abs(d.Correlation)
		scores[i] = d.NormalizedScore
	}
	medImpact, medScore := median(slices.Clone(impacts)), median(slices.Clone(scores))
	for i := range drivers {
		high := impacts[i] > medImpact
		low := scores[i] < medScore
		switch {
		case high && low:
			drivers[i].Priority = PriorityFixFirst
		case high:
			drivers[i].Priority = PriorityKeepUp
		case low:
			drivers[i].Priority = PriorityLowPriority
		default:
			drivers[i].Priority = PriorityPossibleOverkill
		}
	}
}

// median of xs (reordered in place); xs is not empty.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
