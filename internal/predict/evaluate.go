package predict

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/integrate"
	"gonum.org/v1/gonum/stat"
)

// Evaluation is a model's quality, measured on data it was not fitted on.
type Evaluation struct {
	// TrainingResponses and HeldOutResponses count the labelled
	// interactions used to fit and to evaluate.
	TrainingResponses int `json:"trainingResponses"`
	HeldOutResponses  int `json:"heldOutResponses"`
	// TrainingPositives and HeldOutPositives count the detractors (or
	// bottom-two-box answers) among them.
	TrainingPositives int `json:"trainingPositives,omitempty"`
	HeldOutPositives  int `json:"heldOutPositives,omitempty"`

	// AUC is the held-out area under the ROC curve: the chance that a
	// random positive scores above a random negative (0.5 is a coin).
	AUC float64 `json:"auc,omitempty"`
	// CrossValidatedAUC is the mean AUC over the folds, CrossValidatedAUCStdDev its spread.
	CrossValidatedAUC       float64 `json:"crossValidatedAUC,omitempty"`
	CrossValidatedAUCStdDev float64 `json:"crossValidatedAUCStdDev,omitempty"`
	// Brier is the held-out mean squared error of the probabilities.
	Brier float64 `json:"brier,omitempty"`
	// CalibrationError is the held-out expected calibration error: the
	// mean gap, weighted by count, between predicted and observed rates
	// over the Reliability bins.
	CalibrationError float64 `json:"calibrationError,omitempty"`
	// Reliability bins the held-out predictions by tenths of probability.
	Reliability []Bin `json:"reliability,omitempty"`

	// RMSE, MAE and RSquared are the held-out errors of a mean.
	RMSE     float64 `json:"rmse,omitempty"`
	MAE      float64 `json:"mae,omitempty"`
	RSquared float64 `json:"rSquared,omitempty"`
	// CrossValidatedRMSE and CrossValidatedRSquared are the means over the folds.
	CrossValidatedRMSE     float64 `json:"crossValidatedRMSE,omitempty"`
	CrossValidatedRSquared float64 `json:"crossValidatedRSquared,omitempty"`
}

// Accuracy is the figure the minimum is checked against: the lower of the
// held-out and cross-validated AUC (probabilities) or R² (a mean).
func (e Evaluation) Accuracy(t Target) float64 {
	if t.Probability() {
		return math.Min(e.AUC, e.CrossValidatedAUC)
	}
	return math.Min(e.RSquared, e.CrossValidatedRSquared)
}

// Bin is one reliability bin: the predictions in [From, To).
type Bin struct {
	From      float64 `json:"from"`
	To        float64 `json:"to"`
	Count     int     `json:"count"`
	Predicted float64 `json:"predicted"`
	Observed  float64 `json:"observed"`
}

// evaluate fills ev with the held-out and cross-validated figures of m and
// returns why the model is refused, or "".
func evaluate(spec Spec, m *Model, train, held []row, ev *Evaluation) string {
	if len(held) < minHeldOut {
		return fmt.Sprintf("%d held-out responses, too few to measure accuracy (at least %d)", len(held), minHeldOut)
	}
	if spec.Target.Probability() && (ev.HeldOutPositives < minHeldOut/4 || len(held)-ev.HeldOutPositives < minHeldOut/4) {
		return fmt.Sprintf("the %d held-out responses have %d positives: too few of one outcome to measure accuracy (at least %d of each)",
			len(held), ev.HeldOutPositives, minHeldOut/4)
	}
	scores, labels := scoreAll(m, held)

	var cv []float64
	for k := range Folds {
		var in, out []row
		for _, r := range train {
			if fold(r.customer) == k {
				out = append(out, r)
			} else {
				in = append(in, r)
			}
		}
		if len(out) == 0 || len(in) == 0 {
			continue
		}
		fm, err := fit(spec, in)
		if err != nil {
			continue
		}
		s, l := scoreAll(fm, out)
		if spec.Target.Probability() {
			if a, ok := AUC(s, l); ok {
				cv = append(cv, a)
			}
		} else {
			cv = append(cv, rmse(s, l), rSquared(s, l))
		}
	}

	minimum := spec.MinAUC
	name := "AUC"
	if spec.Target.Probability() {
		ev.AUC, _ = AUC(scores, labels)
		ev.Brier = brier(scores, labels)
		ev.Reliability, ev.CalibrationError = reliability(scores, labels)
		if len(cv) > 0 {
			ev.CrossValidatedAUC, ev.CrossValidatedAUCStdDev = stat.MeanStdDev(cv, nil)
		}
	} else {
		minimum, name = spec.MinRSquared, "R²"
		ev.RMSE, ev.MAE, ev.RSquared = rmse(scores, labels), mae(scores, labels), rSquared(scores, labels)
		var rm, r2 []float64
		for i := 0; i+1 < len(cv); i += 2 {
			rm, r2 = append(rm, cv[i]), append(r2, cv[i+1])
		}
		if len(rm) > 0 {
			ev.CrossValidatedRMSE, ev.CrossValidatedRSquared = stat.Mean(rm, nil), stat.Mean(r2, nil)
		}
	}
	if len(cv) == 0 {
		return "the cross-validation folds could not be fitted"
	}
	if acc := ev.Accuracy(spec.Target); acc < minimum {
		return fmt.Sprintf("accuracy %s %.2f (held-out %.2f, cross-validated %.2f) is below the minimum %.2f",
			name, acc, pick(spec.Target, ev.AUC, ev.RSquared), pick(spec.Target, ev.CrossValidatedAUC, ev.CrossValidatedRSquared), minimum)
	}
	return ""
}

func pick(t Target, prob, mean float64) float64 {
	if t.Probability() {
		return prob
	}
	return mean
}

func scoreAll(m *Model, rows []row) (scores, labels []float64) {
	scores = make([]float64, len(rows))
	labels = make([]float64, len(rows))
	for i, r := range rows {
		scores[i] = m.scoreValues(r.values)
		labels[i] = r.label
	}
	return scores, labels
}

// AUC is the area under the ROC curve of scores against labels (1 is
// positive), computed with gonum's stat.ROC over every distinct score and
// the trapezoidal rule (so ties count half). ok is false without both
// classes.
func AUC(scores, labels []float64) (float64, bool) {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	y := make([]float64, len(idx))
	classes := make([]bool, len(idx))
	pos := 0
	for i, j := range idx {
		y[i] = scores[j]
		classes[i] = labels[j] == 1
		if classes[i] {
			pos++
		}
	}
	if pos == 0 || pos == len(idx) {
		return 0, false
	}
	tpr, fpr, _ := stat.ROC(nil, y, classes, nil)
	return integrate.Trapezoidal(fpr, tpr), true
}

func brier(scores, labels []float64) float64 {
	s := 0.0
	for i := range scores {
		d := scores[i] - labels[i]
		s += d * d
	}
	return s / float64(len(scores))
}

// reliability bins predictions by tenths and returns the bins with
// predictions and the expected calibration error.
func reliability(scores, labels []float64) ([]Bin, float64) {
	const n = 10
	bins := make([]Bin, n)
	for i := range bins {
		bins[i].From, bins[i].To = float64(i)/n, float64(i+1)/n
	}
	for i, s := range scores {
		b := min(int(s*n), n-1)
		bins[b].Count++
		bins[b].Predicted += s
		bins[b].Observed += labels[i]
	}
	var out []Bin
	ece := 0.0
	for _, b := range bins {
		if b.Count == 0 {
			continue
		}
		b.Predicted /= float64(b.Count)
		b.Observed /= float64(b.Count)
		ece += float64(b.Count) / float64(len(scores)) * math.Abs(b.Predicted-b.Observed)
		out = append(out, b)
	}
	return out, ece
}

func rmse(s, l []float64) float64 {
	sum := 0.0
	for i := range s {
		sum += (s[i] - l[i]) * (s[i] - l[i])
	}
	return math.Sqrt(sum / float64(len(s)))
}

func mae(s, l []float64) float64 {
	sum := 0.0
	for i := range s {
		sum += math.Abs(s[i] - l[i])
	}
	return sum / float64(len(s))
}

// rSquared is 1 − SSE/SST: the share of the answers' variance the
// predictions explain (0 for predicting the mean, negative for worse).
func rSquared(s, l []float64) float64 {
	mean := stat.Mean(l, nil)
	sse, sst := 0.0, 0.0
	for i := range s {
		sse += (s[i] - l[i]) * (s[i] - l[i])
		sst += (l[i] - mean) * (l[i] - mean)
	}
	if sst == 0 {
		return 0
	}
	return 1 - sse/sst
}
