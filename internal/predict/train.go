package predict

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// Result is the outcome of one training: the evaluation always, the model
// only when it was accepted.
type Result struct {
	// Fingerprint is the spec's fingerprint at training.
	Fingerprint string `json:"fingerprint"`
	// TrainedAt is when the training ran.
	TrainedAt time.Time `json:"trainedAt"`
	// Evaluation is the held-out and cross-validated quality (partial when
	// the data was too small to measure).
	Evaluation Evaluation `json:"evaluation"`
	// Effects are the fitted model's effects in words, largest first (also
	// of a refused model: they say what it learned).
	Effects []Effect `json:"effects,omitempty"`
	// Model is the accepted model; nil when refused.
	Model *Model `json:"model,omitempty"`
	// Refused says why no model is used, naming the figure and the minimum.
	Refused string `json:"refused,omitempty"`
}

// Train fits and evaluates a model on the labelled examples. The examples
// of HeldOutPercent of the customers (chosen by a hash of the customer id,
// so the same customers every time) are never seen in training, nor in the
// vocabulary or the standardization; they measure the accuracy. The rest
// are cross-validated in Folds folds of customers. The model is refused
// below the spec's minimum training responses or accuracy, where accuracy
// is the lower of the held-out and the cross-validated figure.
//
// An error is returned only for an invalid spec.
func Train(spec Spec, examples []Example, now time.Time) (Result, error) {
	if err := spec.Validate(); err != nil {
		return Result{}, err
	}
	spec = spec.withDefaults()
	res := Result{Fingerprint: spec.Fingerprint(), TrainedAt: now}
	// the features are computed once, for every fit and score below
	var train, held []row
	for _, ex := range examples {
		r := row{values: spec.Values(ex.Interaction), label: ex.Label, customer: ex.Interaction.CustomerID}
		if heldOut(r.customer) {
			held = append(held, r)
		} else {
			train = append(train, r)
		}
	}
	ev := &res.Evaluation
	ev.TrainingResponses, ev.HeldOutResponses = len(train), len(held)
	if len(train) < spec.MinTrainingResponses {
		res.Refused = fmt.Sprintf("%d training responses, fewer than the minimum %d", len(train), spec.MinTrainingResponses)
		return res, nil
	}
	if spec.Target.Probability() {
		ev.TrainingPositives, ev.HeldOutPositives = positives(train), positives(held)
		if ev.TrainingPositives == 0 || ev.TrainingPositives == len(train) {
			res.Refused = fmt.Sprintf("all %d training responses have the same outcome: there is nothing to learn", len(train))
			return res, nil
		}
	}
	m, err := fit(spec, train)
	if err != nil {
		res.Refused = err.Error()
		return res, nil
	}
	m.TrainedAt = now
	m.Fingerprint = res.Fingerprint
	m.Effects = effects(spec, m.Columns)
	res.Effects = m.Effects

	if refusal := evaluate(spec, m, train, held, ev); refusal != "" {
		res.Refused = refusal
		return res, nil
	}
	m.Evaluation = *ev
	res.Model = m
	return res, nil
}

// row is one example's feature values, label and customer.
type row struct {
	values   []Value
	label    float64
	customer string
}

func positives(rows []row) int {
	n := 0
	for _, r := range rows {
		if r.label == 1 {
			n++
		}
	}
	return n
}

func hash(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// heldOut reports whether a customer's examples are kept for evaluation.
func heldOut(customer string) bool { return hash(customer)%100 < HeldOutPercent }

func fold(customer string) int { return int(hash(customer+"\x00fold") % Folds) }

// fit builds the vocabulary and standardization from the examples and fits
// the regression's coefficients.
func fit(spec Spec, rows []row) (*Model, error) {
	enc := newEncoder(spec.Features, rows)
	p := len(enc.columns)
	n := len(rows)
	x := mat.NewDense(n, p, nil)
	y := make([]float64, n)
	raw := make([]float64, p)
	for i, r := range rows {
		enc.encode(r.values, raw)
		for c := range raw {
			x.Set(i, c, (raw[c]-enc.columns[c].Mean)/enc.columns[c].StdDev)
		}
		y[i] = r.label
	}
	var w []float64 // intercept first, then one per column, standardized
	var err error
	if spec.Target.Probability() {
		w, err = fitLogistic(x, y, spec.L2)
	} else {
		w, err = fitRidge(x, y, spec.L2)
	}
	if err != nil {
		return nil, err
	}
	m := &Model{Target: spec.Target, ScaleMin: spec.ScaleMin, ScaleMax: spec.ScaleMax, Features: spec.Features, Columns: enc.columns, Intercept: w[0]}
	for c := range m.Columns {
		col := &m.Columns[c]
		col.Standardized = w[c+1]
		col.Coefficient = w[c+1] / col.StdDev
		m.Intercept -= col.Coefficient * col.Mean
	}
	return m, nil
}

// fitLogistic minimizes the penalized negative log-likelihood
//
//	Σ log(1+exp(z_i)) − y_i z_i  +  λ/2 Σ_j w_j²,   z = w0 + X w
//
// (the intercept is not penalized) with gonum's L-BFGS.
func fitLogistic(x *mat.Dense, y []float64, l2 float64) ([]float64, error) {
	n, p := x.Dims()
	z := mat.NewVecDense(n, nil)
	resid := mat.NewVecDense(n, nil)
	g := mat.NewVecDense(p, nil)
	// z = w0 + Xw, kept for the last w: L-BFGS asks for the value and the
	// gradient at the same point
	var at []float64
	eval := func(w []float64) {
		if at != nil && floats.Equal(at, w) {
			return
		}
		z.MulVec(x, mat.NewVecDense(p, w[1:]))
		for i := range n {
			z.SetVec(i, z.AtVec(i)+w[0])
		}
		at = append(at[:0], w...)
	}
	problem := optimize.Problem{
		Func: func(w []float64) float64 {
			eval(w)
			f := 0.0
			for i := range n {
				zi := z.AtVec(i)
				// log(1+e^z) computed without overflow
				f += math.Max(zi, 0) + math.Log1p(math.Exp(-math.Abs(zi))) - y[i]*zi
			}
			return f + l2/2*floats.Dot(w[1:], w[1:])
		},
		Grad: func(grad, w []float64) {
			eval(w)
			sum := 0.0
			for i := range n {
				r := sigmoid(z.AtVec(i)) - y[i]
				resid.SetVec(i, r)
				sum += r
			}
			g.MulVec(x.T(), resid)
			grad[0] = sum
			for j := range p {
				grad[j+1] = g.AtVec(j) + l2*w[j+1]
			}
		},
	}
	w0 := make([]float64, p+1)
	if rate := floats.Sum(y) / float64(n); rate > 0 && rate < 1 {
		w0[0] = math.Log(rate / (1 - rate)) // start from the base rate
	}
	settings := &optimize.Settings{
		GradientThreshold: 1e-6 * float64(n),
		MajorIterations:   1000,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-12, Iterations: 50},
	}
	r, err := optimize.Minimize(problem, w0, settings, &optimize.LBFGS{})
	if err != nil && (r == nil || r.Status != optimize.IterationLimit) {
		return nil, fmt.Errorf("the logistic regression did not converge: %w", err)
	}
	if r == nil || slicesHasNaN(r.X) {
		return nil, errors.New("the logistic regression did not converge")
	}
	return r.X, nil
}

// fitRidge solves the ridge regression (XᵀX + λI) w = Xᵀ(y − ȳ) by a
// Cholesky factorization; X is centred, so the intercept is ȳ.
func fitRidge(x *mat.Dense, y []float64, l2 float64) ([]float64, error) {
	n, p := x.Dims()
	mean := floats.Sum(y) / float64(n)
	yc := mat.NewVecDense(n, nil)
	for i := range n {
		yc.SetVec(i, y[i]-mean)
	}
	a := mat.NewSymDense(p, nil)
	a.SymOuterK(1, x.T())
	for j := range p {
		a.SetSym(j, j, a.At(j, j)+l2)
	}
	var chol mat.Cholesky
	if ok := chol.Factorize(a); !ok {
		return nil, errors.New("the linear regression's normal equations are singular")
	}
	b := mat.NewVecDense(p, nil)
	b.MulVec(x.T(), yc)
	w := mat.NewVecDense(p, nil)
	if err := chol.SolveVecTo(w, b); err != nil {
		return nil, fmt.Errorf("solve the linear regression: %w", err)
	}
	return append([]float64{mean}, w.RawVector().Data...), nil
}

func slicesHasNaN(s []float64) bool {
	for _, v := range s {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return true
		}
	}
	return false
}
