package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// Variables of the case environment beyond the response ones.
const (
	varSeverity = "severity"
	varCategory = "category"
	varRule     = "rule"
)

var caseHint = variablesHint(varCustomer, varAnswers, varMetadata, varComment, varSentiment,
	varThemes, varTouchpoint, varRule, varSeverity, varCategory)

// CaseEnv is the CEL environment of CaseTemplate routes, evaluated on a
// Case:
//
//	customer     id, tier, segment, attributes    spec.customer
//	answers      map(string, dyn)                 spec.source.response.answers
//	metadata     map(string, string)              spec.source.response.metadata
//	comment      string                           spec.source.response.comment
//	sentiment    double (0 when not scored)        spec.source.response.sentiment
//	themes       list(string)                     spec.source.response.themes
//	touchpoint   string                           spec.source.touchpoint
//	rule         string                           spec.source.rule
//	severity     string                           spec.severity
//	category     string                           spec.category
//
// Routes are not tied to one touchpoint, so answers is a map: an answer
// the response lacks is a "no such key" error (the route does not match);
// test it with has(answers.x) or has_answer('x'). Numbers in answers are
// int when integral, else double. has_theme('x') is 'x' in themes.
type CaseEnv struct {
	env  *cel.Env
	opts options
}

// NewCaseEnv builds the case environment.
func NewCaseEnv(opts ...Option) (*CaseEnv, error) {
	env, err := cel.NewEnv(append(baseEnvOptions(),
		cel.Types(customerType),
		cel.Variable(varCustomer, customerType.celType),
		cel.Variable(varAnswers, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varMetadata, mapStringString),
		cel.Variable(varComment, cel.StringType),
		cel.Variable(varSentiment, cel.DoubleType),
		cel.Variable(varThemes, cel.ListType(cel.StringType)),
		cel.Variable(varTouchpoint, cel.StringType),
		cel.Variable(varRule, cel.StringType),
		cel.Variable(varSeverity, cel.StringType),
		cel.Variable(varCategory, cel.StringType),
		cel.Macros(hasThemeMacro, hasAnswerMacro),
	)...)
	if err != nil {
		return nil, fmt.Errorf("build case CEL environment: %w", err)
	}
	return &CaseEnv{env: env, opts: buildOptions(opts)}, nil
}

// CaseProgram is a compiled route condition.
type CaseProgram struct {
	c *compiled
}

// Compile parses and type-checks a route's when; its result must be bool.
func (e *CaseEnv) Compile(expr string) (*CaseProgram, error) {
	c, err := compile(e.env, expr, cel.BoolType, e.opts, nil, caseHint)
	if err != nil {
		return nil, err
	}
	return &CaseProgram{c: c}, nil
}

// Expression is the source of the program.
func (p *CaseProgram) Expression() string { return p.c.expr }

// Eval evaluates the condition on a Case. An error means no match.
func (p *CaseProgram) Eval(c *cxv1alpha1.Case) (bool, error) {
	act, err := NewCaseActivation(c)
	if err != nil {
		return false, err
	}
	return p.EvalActivation(act)
}

// EvalActivation evaluates the condition on a converted Case.
func (p *CaseProgram) EvalActivation(act *CaseActivation) (bool, error) {
	return p.c.evalBool(act)
}

// CaseActivation is a Case converted to CEL values, built once and shared
// by the routes of its template.
type CaseActivation struct {
	vars map[string]ref.Val
}

var _ interpreter.Activation = (*CaseActivation)(nil)

// ResolveName implements interpreter.Activation.
func (a *CaseActivation) ResolveName(name string) (any, bool) {
	v, ok := a.vars[name]
	return v, ok
}

// Parent implements interpreter.Activation.
func (a *CaseActivation) Parent() interpreter.Activation { return nil }

// NewCaseActivation converts a Case for evaluation. An answer that is not
// valid JSON is an error; a null answer counts as absent.
func NewCaseActivation(c *cxv1alpha1.Case) (*CaseActivation, error) {
	if c == nil {
		return nil, fmt.Errorf("case is nil")
	}
	adapter := types.DefaultTypeAdapter
	var customer *object
	if cu := c.Spec.Customer; cu != nil {
		customer = newCustomer(cu.ID, cu.Tier, cu.Segment, cu.Attributes)
	} else {
		customer = newCustomer("", "", "", nil)
	}
	answers := map[ref.Val]ref.Val{}
	var (
		metadata                  map[string]string
		comment, touchpoint, rule string
		sentiment                 float64
		themes                    = []string{}
	)
	if src := c.Spec.Source; src != nil {
		touchpoint, rule = src.Touchpoint, src.Rule
		if r := src.Response; r != nil {
			ids := make([]string, 0, len(r.Answers))
			for id := range r.Answers {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			for _, id := range ids {
				v, err := decodeJSON(r.Answers[id].Raw)
				if err != nil {
					return nil, fmt.Errorf("spec.source.response.answers.%s: %w", id, err)
				}
				if v == nil {
					continue
				}
				answers[types.String(id)] = adapter.NativeToValue(v)
			}
			metadata, comment = r.Metadata, r.Comment
			if r.Sentiment != nil {
				sentiment = *r.Sentiment
			}
			if r.Themes != nil {
				themes = r.Themes
			}
		}
	}
	return &CaseActivation{vars: map[string]ref.Val{
		varCustomer:   customer,
		varAnswers:    types.NewRefValMap(adapter, answers),
		varMetadata:   types.NewStringStringMap(adapter, metadata),
		varComment:    types.String(comment),
		varSentiment:  types.Double(sentiment),
		varThemes:     types.NewStringList(adapter, themes),
		varTouchpoint: types.String(touchpoint),
		varRule:       types.String(rule),
		varSeverity:   types.String(string(c.Spec.Severity)),
		varCategory:   types.String(c.Spec.Category),
	}}, nil
}

// decodeJSON decodes a JSON answer into int64, float64, bool, string,
// []any or map[string]any, keeping integral numbers integers.
func decodeJSON(raw []byte) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	return normalizeJSON(v), nil
}

func normalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalizeJSON(x[i])
		}
		return x
	case map[string]any:
		for k := range x {
			x[k] = normalizeJSON(x[k])
		}
		return x
	}
	return v
}
