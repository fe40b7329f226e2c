package predict

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Effect is one column's effect on the prediction, in numbers and words.
type Effect struct {
	// Feature and Category name the column (Category for one value of a
	// category feature, compared with Reference).
	Feature   string `json:"feature"`
	Category  string `json:"category,omitempty"`
	Reference string `json:"reference,omitempty"`
	// Step is the change of a number feature the effect is given for (1,
	// or a power of ten near the feature's spread when that is 10 or more).
	Step float64 `json:"step,omitempty"`
	// OddsRatio multiplies the odds of the target per Step (probability
	// targets); Change adds to the expected answer per Step (a mean).
	OddsRatio float64 `json:"oddsRatio,omitempty"`
	Change    float64 `json:"change,omitempty"`
	// Text says it in words: "each +1 transfers raises detractor odds 1.80x".
	Text string `json:"text"`
}

// effects describes the columns, the largest standardized effect first.
func effects(spec Spec, cols []Column) []Effect {
	order := make([]int, len(cols))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(math.Abs(cols[b].Standardized), math.Abs(cols[a].Standardized))
	})
	what := "detractor odds"
	if spec.Target == TargetBottomTwoBox {
		what = "bottom-two-box odds"
	}
	out := make([]Effect, 0, len(cols))
	for _, i := range order {
		c := cols[i]
		e := Effect{Feature: c.Feature, Category: c.Category, Reference: c.Reference}
		subject := ""
		delta := c.Coefficient
		if c.Category != "" {
			ref := c.Reference
			subject = fmt.Sprintf("%s %s (vs %s)", c.Feature, c.Category, ref)
		} else {
			e.Step = step(c.StdDev)
			delta *= e.Step
			subject = fmt.Sprintf("each +%s %s", trim(e.Step), c.Feature)
		}
		if spec.Target.Probability() {
			e.OddsRatio = math.Exp(delta)
			if e.OddsRatio >= 1 {
				e.Text = fmt.Sprintf("%s raises %s %.2fx", subject, what, e.OddsRatio)
			} else {
				e.Text = fmt.Sprintf("%s lowers %s to %.2fx", subject, what, e.OddsRatio)
			}
		} else {
			e.Change = delta
			verb := "raises"
			if delta < 0 {
				verb = "lowers"
			}
			e.Text = fmt.Sprintf("%s %s the expected answer by %.2f", subject, verb, math.Abs(delta))
		}
		out = append(out, e)
	}
	return out
}

// step is 1 for a feature whose spread is under 10, else the power of ten
// at or below its standard deviation ("each +10 wait minutes").
func step(sd float64) float64 {
	if sd < 10 {
		return 1
	}
	return math.Pow(10, math.Floor(math.Log10(sd)))
}

func trim(f float64) string { return fmt.Sprintf("%g", f) }
