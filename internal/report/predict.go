package report

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/metrics"
)

// PredictionSource is a Source that also reads a touchpoint's predicted
// scores (collectorclient.HTTPSource, collector.StoreSource).
type PredictionSource interface {
	// Predictions summarizes tp's predicted scores of interactions whose
	// last event is in [from, to) beside the answers submitted then.
	Predictions(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, from, to time.Time) (*metrics.PredictionSummary, error)
}

// PredictionClaim says what the Predictions section can and cannot claim.
const PredictionClaim = "Predicted scores estimate how customers who were never asked would have answered, " +
	"from a model judged on customers it never saw in training; they are estimates, not answers, and no KPI of this report counts them."

// Predictions is the Predictions section: one row per touchpoint that
// declares a prediction.
type Predictions struct {
	Rows []PredictionRow `json:"rows"`
}

// PredictionRow is one touchpoint's predicted and measured scores of the
// window.
type PredictionRow struct {
	Touchpoint string `json:"touchpoint"`
	Label      string `json:"label"`
	metrics.PredictionSummary
}

// fetchPredictions reads the window's predictions of every selected
// touchpoint with spec.prediction, when the section is asked for.
func (b *builder) fetchPredictions(ctx context.Context) error {
	if !b.has(cxv1alpha1.SectionPredictions) {
		return nil
	}
	b.predictions = map[string]*metrics.PredictionSummary{}
	src, ok := b.in.Source.(PredictionSource)
	for _, tp := range b.tps {
		if tp.Spec.Prediction == nil {
			continue
		}
		if !ok {
			return errors.New("report: the Predictions section needs a Source that reads predictions")
		}
		sum, err := src.Predictions(ctx, tp, b.cur.From.UTC(), b.cur.To.UTC())
		if err != nil {
			return fmt.Errorf("read the predictions of touchpoint %s: %w", tp.Name, err)
		}
		b.predictions[tp.Name] = sum
	}
	return nil
}

func (b *builder) predictionSection() Section {
	p := &Predictions{Rows: []PredictionRow{}}
	for _, tp := range b.tps {
		sum := b.predictions[tp.Name]
		if sum == nil {
			continue
		}
		label := tp.Spec.DisplayName
		if label == "" {
			label = tp.Name
		}
		p.Rows = append(p.Rows, PredictionRow{Touchpoint: tp.Name, Label: label, PredictionSummary: *sum})
	}
	basis := fmt.Sprintf("Interactions whose last event was %s and responses submitted then.", b.span(b.cur))
	if len(p.Rows) == 0 {
		basis = "No selected touchpoint declares a prediction (spec.prediction)."
	}
	return Section{Title: "Predicted scores of customers never asked", Basis: basis, Predictions: p}
}

// targetValue writes a predicted or measured figure of target: a share of
// detractors or bottom-two-box answers, or a mean answer.
func targetValue(target string, v float64) string {
	switch cxv1alpha1.PredictionTarget(target) {
	case cxv1alpha1.PredictionDetractor:
		return formatPercent(100*v) + " detractors"
	case cxv1alpha1.PredictionBottomTwoBox:
		return formatPercent(100*v) + " bottom-two-box"
	}
	return "mean " + strconv.FormatFloat(round(v, 2), 'f', 2, 64)
}

func predictionBlocks(p *Predictions, loc *time.Location) []block {
	out := make([]block, 0, len(p.Rows))
	for _, r := range p.Rows {
		fact := func(name, value string) []cell { return []cell{txt(name), num(value)} }
		predicted := "none scored"
		if r.Predicted > 0 {
			predicted = fmt.Sprintf("%s expected (%s, %s)", targetValue(r.Target, r.PredictedMean),
				plural(int(r.Predicted), "interaction"), plural(int(r.PredictedCustomers), "customer"))
		}
		measured := "none answered"
		if r.Measured > 0 {
			measured = fmt.Sprintf("%s (%s, %s)", targetValue(r.Target, r.MeasuredMean),
				plural(int(r.Measured), "response"), plural(int(r.MeasuredCustomers), "customer"))
		}
		coverage := fmt.Sprintf("%s with a score or an answer: %d scored, %d asked who answered",
			plural(int(r.CoveredCustomers), "customer"), r.PredictedCustomers, r.MeasuredCustomers)
		model := "none in use: " + r.Refused
		if m := r.Model; m != nil {
			model = fmt.Sprintf("%s %s on %s never trained on; trained on %d, %s", m.Measure,
				strconv.FormatFloat(round(m.Accuracy, 2), 'f', 2, 64), plural(m.HeldOutResponses, "held-out response"),
				m.TrainingResponses, formatTime(m.TrainedAt, loc))
			if m.CalibrationError > 0 {
				model += fmt.Sprintf("; calibration error %s", strconv.FormatFloat(round(m.CalibrationError, 3), 'f', 3, 64))
			}
		}
		modelCell := fact("Model", model)
		if r.Model == nil {
			modelCell[1].Tone = toneMuted
		}
		out = append(out, block{Heading: r.Label, Rows: [][]cell{
			fact("Predicted, never asked", predicted),
			fact("Measured, answered", measured),
			fact("Coverage", coverage),
			modelCell,
		}, Notes: []string{PredictionClaim}})
	}
	return out
}
