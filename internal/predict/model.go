package predict

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// maxCategories bounds a category feature's vocabulary: the most frequent
// values get a column, the rest count as the reference.
const maxCategories = 50

// Column is one input of the fitted model: a number feature, or one value
// of a category feature (1 when the interaction has that value).
type Column struct {
	// Feature is the feature's name, Index its position in the features.
	Feature string `json:"feature"`
	Index   int    `json:"index"`
	// Category is the value this column stands for (category features).
	Category string `json:"category,omitempty"`
	// Reference is the category value the others are compared with: the
	// most frequent in training; it and unseen values have no column.
	Reference string `json:"reference,omitempty"`
	// Mean and StdDev are of the column's training values (a missing
	// number takes the Mean).
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stdDev"`
	// Coefficient is per unit of the raw value (log odds for a
	// probability, answer points for a mean).
	Coefficient float64 `json:"coefficient"`
	// Standardized is the coefficient per standard deviation: how much the
	// column moves predictions, comparable across columns.
	Standardized float64 `json:"standardized"`
}

// Model is a trained, accepted prediction model. It is plain data (JSON):
// the collector stores it and scores with it.
type Model struct {
	Target      Target    `json:"target"`
	ScaleMin    int       `json:"scaleMin"`
	ScaleMax    int       `json:"scaleMax"`
	Fingerprint string    `json:"fingerprint"`
	TrainedAt   time.Time `json:"trainedAt"`
	// Features are the spec's features, to compute an interaction's values.
	Features  []Feature `json:"features"`
	Intercept float64   `json:"intercept"`
	Columns   []Column  `json:"columns"`
	// Evaluation is how well the model did on data it never saw.
	Evaluation Evaluation `json:"evaluation"`
	// Effects are the columns' effects in words, largest first.
	Effects []Effect `json:"effects"`
}

// Score predicts the target for an interaction: a probability, or the
// expected answer clamped to the scale.
func (m *Model) Score(in Interaction) float64 {
	values := make([]Value, len(m.Features)) // the features were defaulted at training
	for i, f := range m.Features {
		values[i] = f.value(in)
	}
	return m.scoreValues(values)
}

func (m *Model) scoreValues(values []Value) float64 {
	z := m.Intercept
	for _, c := range m.Columns {
		v := values[c.Index]
		switch {
		case c.Category != "":
			if !v.Missing && v.Category == c.Category {
				z += c.Coefficient
			}
		case v.Missing:
			z += c.Coefficient * c.Mean
		default:
			z += c.Coefficient * v.Number
		}
	}
	if m.Target.Probability() {
		return sigmoid(z)
	}
	return math.Min(math.Max(z, float64(m.ScaleMin)), float64(m.ScaleMax))
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// encoder turns feature values into the design matrix's columns.
type encoder struct {
	features []Feature
	columns  []Column
	// index[f] lists the columns of feature f; cats[f] maps a category
	// value to its column.
	index [][]int
	cats  []map[string]int
}

// newEncoder builds the vocabulary and the columns' means and standard
// deviations from the training values only.
func newEncoder(features []Feature, rows []row) *encoder {
	e := &encoder{features: features, index: make([][]int, len(features)), cats: make([]map[string]int, len(features))}
	for f, feat := range features {
		if feat.Kind == Number {
			e.index[f] = []int{len(e.columns)}
			e.columns = append(e.columns, Column{Feature: feat.Name, Index: f})
			continue
		}
		counts := map[string]int{}
		for _, r := range rows {
			if v := r.values[f]; !v.Missing {
				counts[v.Category]++
			}
		}
		vocab := make([]string, 0, len(counts))
		for v := range counts {
			vocab = append(vocab, v)
		}
		// most frequent first, ties by value: the vocabulary is stable for
		// the same data whatever the order it came in
		slices.SortFunc(vocab, func(a, b string) int {
			if counts[a] != counts[b] {
				return counts[b] - counts[a]
			}
			if a < b {
				return -1
			}
			return 1
		})
		e.cats[f] = map[string]int{}
		if len(vocab) == 0 {
			continue
		}
		ref := vocab[0]
		rest := vocab[1:min(len(vocab), maxCategories)]
		slices.Sort(rest)
		for _, v := range rest {
			e.cats[f][v] = len(e.columns)
			e.index[f] = append(e.index[f], len(e.columns))
			e.columns = append(e.columns, Column{Feature: feat.Name, Index: f, Category: v, Reference: ref})
		}
	}
	// means of present values first (a missing number takes the mean), then
	// standard deviations of the imputed columns
	sums := make([]float64, len(e.columns))
	present := make([]int, len(e.columns))
	for _, r := range rows {
		for f, feat := range features {
			v := r.values[f]
			if feat.Kind == Number {
				if !v.Missing {
					sums[e.index[f][0]] += v.Number
					present[e.index[f][0]]++
				}
				continue
			}
			for _, c := range e.index[f] {
				present[c]++
			}
			if c, ok := e.cats[f][v.Category]; ok && !v.Missing {
				sums[c]++
			}
		}
	}
	for c := range e.columns {
		if present[c] > 0 {
			e.columns[c].Mean = sums[c] / float64(present[c])
		}
	}
	sq := make([]float64, len(e.columns))
	x := make([]float64, len(e.columns))
	for _, r := range rows {
		e.encode(r.values, x)
		for c := range x {
			d := x[c] - e.columns[c].Mean
			sq[c] += d * d
		}
	}
	for c := range e.columns {
		sd := 0.0
		if len(rows) > 1 {
			sd = math.Sqrt(sq[c] / float64(len(rows)-1))
		}
		if sd == 0 {
			sd = 1 // a constant column: its standardized value is 0 and so its coefficient
		}
		e.columns[c].StdDev = sd
	}
	return e
}

// encode writes one row's raw column values into x.
func (e *encoder) encode(values []Value, x []float64) {
	clear(x)
	for f, feat := range e.features {
		v := values[f]
		if feat.Kind == Number {
			c := e.index[f][0]
			if v.Missing {
				x[c] = e.columns[c].Mean
			} else {
				x[c] = v.Number
			}
			continue
		}
		if c, ok := e.cats[f][v.Category]; ok && !v.Missing {
			x[c] = 1
		}
	}
}

func (c Column) String() string {
	if c.Category != "" {
		return fmt.Sprintf("%s=%s", c.Feature, c.Category)
	}
	return c.Feature
}
