package predict

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/manifest"
)

const commandUsage = `Usage: cxloop predict -f TOUCHPOINT.yaml -events EVENTS.jsonl -responses RESPONSES.jsonl [-scores OUT.jsonl]

Trains a touchpoint's prediction (spec.prediction) offline on exported data
and judges it as spec.prediction declares: on held-out customers never seen
in training, by 5-fold cross-validation and calibration, against the minimum
accuracy and training size. It prints the evaluation and the largest effects, and
exits non-zero when the model is refused. With -scores it writes the
predicted score of every interaction that got no response, one JSON object a
line; nothing is written for a refused model.

EVENTS.jsonl holds one business event a line, as POST /v1/events takes it
({"id", "name", "occurredAt", "customer": {"id", "tier", "segment",
"attributes"}, "metadata"}; contact details are ignored). RESPONSES.jsonl
holds one response a line, as POST /v1/responses takes it ({"id",
"customer": {"id"}, "answers", "metadata", "submittedAt"}).

Flags:
`

// Command runs `cxloop predict`.
func Command(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tpFile := fs.String("f", "", "manifest file with the SurveyTouchpoint (its spec.prediction and questions)")
	name := fs.String("name", "", "the SurveyTouchpoint's name, when the file has several")
	eventsFile := fs.String("events", "", "business events, one JSON object a line")
	responsesFile := fs.String("responses", "", "responses, one JSON object a line")
	scoresFile := fs.String("scores", "", "write the predicted scores of unanswered interactions here (JSON lines)")
	nowFlag := fs.String("now", "", "training time (RFC 3339); default now")
	fs.Usage = func() {
		fmt.Fprint(stderr, commandUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if *tpFile == "" || *eventsFile == "" || *responsesFile == "" {
		fs.Usage()
		return errors.New("predict: -f, -events and -responses are required")
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return fmt.Errorf("predict: -now: %w", err)
		}
		now = t
	}
	tp, err := loadTouchpoint(*tpFile, *name)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	spec, ok, err := FromTouchpoint(tp)
	if err != nil {
		return fmt.Errorf("predict: SurveyTouchpoint %s: %w", tp.Name, err)
	}
	if !ok {
		return fmt.Errorf("predict: SurveyTouchpoint %s declares no spec.prediction", tp.Name)
	}
	events, err := readEvents(*eventsFile)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	responses, err := readResponses(*responsesFile, tp.Spec.Prediction.Question, spec.InteractionKey)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	interactions := spec.Interactions(events)
	examples, unanswered := spec.Join(interactions, responses)
	res, err := Train(spec, examples, now)
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	fmt.Fprintf(stdout, "SurveyTouchpoint %s: %s of question %s\n", tp.Name, spec.Target, tp.Spec.Prediction.Question)
	fmt.Fprintf(stdout, "%d events in %d interactions; %d answered (of %d responses), %d unanswered\n\n",
		len(events), len(interactions), len(examples), len(responses), len(unanswered))
	WriteEvaluation(stdout, spec.Target, res)
	if res.Model == nil {
		return fmt.Errorf("predict: model refused: %s", res.Refused)
	}
	if *scoresFile != "" {
		if err := writeScores(*scoresFile, res.Model, unanswered); err != nil {
			return fmt.Errorf("predict: %w", err)
		}
		fmt.Fprintf(stdout, "\n%d predicted scores written to %s\n", len(unanswered), *scoresFile)
	}
	return nil
}

// WriteEvaluation prints a training's result for a person.
func WriteEvaluation(w io.Writer, target Target, res Result) {
	ev := res.Evaluation
	fmt.Fprintf(w, "Trained on %d responses, evaluated on %d held-out responses of customers never seen in training.\n",
		ev.TrainingResponses, ev.HeldOutResponses)
	if target.Probability() {
		fmt.Fprintf(w, "Positives: %d in training, %d held out.\n", ev.TrainingPositives, ev.HeldOutPositives)
		fmt.Fprintf(w, "AUC: held-out %.3f, cross-validated %.3f ± %.3f (%d folds)\n", ev.AUC, ev.CrossValidatedAUC, ev.CrossValidatedAUCStdDev, Folds)
		fmt.Fprintf(w, "Calibration: Brier score %.3f, calibration error %.3f\n", ev.Brier, ev.CalibrationError)
		if len(ev.Reliability) > 0 {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "predicted\tcount\tmean predicted\tobserved\t")
			for _, b := range ev.Reliability {
				fmt.Fprintf(tw, "%.1f-%.1f\t%d\t%.3f\t%.3f\t\n", b.From, b.To, b.Count, b.Predicted, b.Observed)
			}
			_ = tw.Flush()
		}
	} else {
		fmt.Fprintf(w, "Held-out: R² %.3f, RMSE %.3f, MAE %.3f; cross-validated: R² %.3f, RMSE %.3f\n",
			ev.RSquared, ev.RMSE, ev.MAE, ev.CrossValidatedRSquared, ev.CrossValidatedRMSE)
	}
	if len(res.Effects) > 0 {
		fmt.Fprintln(w, "\nLargest effects:")
		for i, e := range res.Effects {
			if i == TopEffects {
				break
			}
			fmt.Fprintf(w, "  %s\n", e.Text)
		}
	}
	if res.Model == nil {
		fmt.Fprintf(w, "\nRefused: %s. Nothing would be predicted.\n", res.Refused)
	} else {
		fmt.Fprintln(w, "\nAccepted: the model meets the minimum accuracy and training size.")
	}
}

func loadTouchpoint(path, name string) (*cxv1alpha1.SurveyTouchpoint, error) {
	docs, err := manifest.Load([]string{path}, nil, false)
	if err != nil {
		return nil, err
	}
	var found []*cxv1alpha1.SurveyTouchpoint
	for _, d := range docs {
		if d.Object.GetKind() != "SurveyTouchpoint" || name != "" && d.Object.GetName() != name {
			continue
		}
		tp := &cxv1alpha1.SurveyTouchpoint{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.Object.Object, tp); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", d.File, d.Line, err)
		}
		found = append(found, tp)
	}
	switch {
	case len(found) == 0 && name != "":
		return nil, fmt.Errorf("%s: no SurveyTouchpoint %q", path, name)
	case len(found) == 0:
		return nil, fmt.Errorf("%s: no SurveyTouchpoint", path)
	case len(found) > 1:
		return nil, fmt.Errorf("%s: %d SurveyTouchpoints; choose one with -name", path, len(found))
	}
	return found[0], nil
}

// eachLine decodes every non-empty line of path into a fresh T.
func eachLine[T any](path string, f func(line int, v *T) error) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = file.Close() }()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	n := 0
	for sc.Scan() {
		n++
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var v T
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if err := f(n, &v); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}

func readEvents(path string) ([]Event, error) {
	var out []Event
	err := eachLine(path, func(_ int, e *Event) error {
		switch {
		case e.ID == "":
			return errors.New("id: required")
		case e.Customer.ID == "":
			return errors.New("customer.id: required")
		case e.OccurredAt.IsZero():
			return errors.New("occurredAt: required (an exported event keeps when it happened)")
		}
		out = append(out, *e)
		return nil
	})
	return out, err
}

// responseLine is the part of a POST /v1/responses body a training reads.
type responseLine struct {
	ID       string `json:"id"`
	Customer struct {
		ID string `json:"id"`
	} `json:"customer"`
	Answers     map[string]any    `json:"answers"`
	Metadata    map[string]string `json:"metadata"`
	SubmittedAt time.Time         `json:"submittedAt"`
}

// readResponses reads the responses that answer question; the others are
// skipped (a response need not answer every question).
func readResponses(path, question, interactionKey string) ([]Response, error) {
	var out []Response
	err := eachLine(path, func(_ int, r *responseLine) error {
		raw, ok := r.Answers[question]
		if !ok {
			return nil
		}
		score, ok := number(raw)
		switch {
		case !ok:
			return fmt.Errorf("answers.%s: %v is not a number", question, raw)
		case r.Customer.ID == "":
			return errors.New("customer.id: required")
		case r.SubmittedAt.IsZero():
			return errors.New("submittedAt: required")
		}
		out = append(out, Response{ID: r.ID, CustomerID: r.Customer.ID, SubmittedAt: r.SubmittedAt,
			InteractionID: r.Metadata[interactionKey], Score: score})
		return nil
	})
	return out, err
}

// scoreLine is one predicted score in the -scores output.
type scoreLine struct {
	Customer    string    `json:"customer"`
	Interaction string    `json:"interaction"`
	Last        time.Time `json:"lastEventAt"`
	Target      Target    `json:"target"`
	Score       float64   `json:"score"`
}

func writeScores(path string, m *Model, unanswered []Interaction) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, in := range unanswered {
		if err := enc.Encode(scoreLine{Customer: in.CustomerID, Interaction: in.ID, Last: in.Last(), Target: m.Target, Score: m.Score(in)}); err != nil {
			return err
		}
	}
	return w.Flush()
}
