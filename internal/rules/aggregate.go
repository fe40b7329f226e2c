package rules

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// Variables of the aggregate environment.
const (
	varValue       = "value"
	varPrevious    = "previous"
	varDelta       = "delta"
	varCount       = "count"
	varGroup       = "group"
	varHasPrevious = "has_previous"
)

var aggregateHint = variablesHint(varValue, varPrevious, varDelta, varHasPrevious, varCount, varGroup)

// AggregateEnv is the CEL environment of aggregate AlertRule conditions:
//
//	value         double  the metric over this window
//	previous      double  the metric over the window before (0 without one)
//	delta         double  value - previous (0 without a previous window)
//	has_previous  bool    whether the window before had enough responses
//	count         int     responses in this window
//	group         string  the group's value with groupBy, else ""
//
// Without a previous window (a new rule, or too few responses before),
// has_previous is false and previous and delta are 0, so a drop condition
// such as delta < -10.0 does not fire on the first window. Write
// has_previous && delta < -10.0 to say so explicitly.
type AggregateEnv struct {
	env  *cel.Env
	opts options
}

// NewAggregateEnv builds the aggregate environment.
func NewAggregateEnv(opts ...Option) (*AggregateEnv, error) {
	env, err := cel.NewEnv(append(baseEnvOptions(),
		cel.Variable(varValue, cel.DoubleType),
		cel.Variable(varPrevious, cel.DoubleType),
		cel.Variable(varDelta, cel.DoubleType),
		cel.Variable(varHasPrevious, cel.BoolType),
		cel.Variable(varCount, cel.IntType),
		cel.Variable(varGroup, cel.StringType),
	)...)
	if err != nil {
		return nil, fmt.Errorf("build aggregate CEL environment: %w", err)
	}
	return &AggregateEnv{env: env, opts: buildOptions(opts)}, nil
}

// AggregateProgram is a compiled aggregate condition.
type AggregateProgram struct {
	c *compiled
}

// Compile parses and type-checks an aggregate condition; its result must
// be bool.
func (e *AggregateEnv) Compile(expr string) (*AggregateProgram, error) {
	c, err := compile(e.env, expr, cel.BoolType, e.opts, nil, aggregateHint)
	if err != nil {
		return nil, err
	}
	return &AggregateProgram{c: c}, nil
}

// Expression is the source of the program.
func (p *AggregateProgram) Expression() string { return p.c.expr }

// AggregateInput is one evaluation of an aggregate rule.
type AggregateInput struct {
	// Value of the metric over the window.
	Value float64
	// Previous value over the window before; nil when there is none.
	Previous *float64
	// Count of responses in the window.
	Count int64
	// Group value, empty without groupBy.
	Group string
}

// Eval evaluates the condition.
func (p *AggregateProgram) Eval(in AggregateInput) (bool, error) {
	act := &aggregateActivation{in: in}
	if in.Previous != nil {
		act.previous = *in.Previous
		act.delta = in.Value - *in.Previous
	}
	return p.c.evalBool(act)
}

type aggregateActivation struct {
	in              AggregateInput
	previous, delta float64
}

func (a *aggregateActivation) ResolveName(name string) (any, bool) {
	switch name {
	case varValue:
		return types.Double(a.in.Value), true
	case varPrevious:
		return types.Double(a.previous), true
	case varDelta:
		return types.Double(a.delta), true
	case varHasPrevious:
		return types.Bool(a.in.Previous != nil), true
	case varCount:
		return types.Int(a.in.Count), true
	case varGroup:
		return types.String(a.in.Group), true
	}
	return nil, false
}

func (a *aggregateActivation) Parent() interpreter.Activation { return nil }
