package rules

import (
	"fmt"
	"regexp"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
)

// DefaultCostLimit is the runtime cost limit of every program, in CEL cost
// units (roughly one per operation, plus the length of strings and lists
// that functions walk). Ordinary rules cost tens of units; a comment of
// 20,000 characters searched once costs about 2,000.
const DefaultCostLimit uint64 = 100_000

// Option configures an environment.
type Option func(*options)

type options struct {
	costLimit uint64
}

// WithCostLimit sets the runtime cost limit of the environment's programs.
func WithCostLimit(limit uint64) Option {
	return func(o *options) { o.costLimit = limit }
}

func buildOptions(opts []Option) options {
	o := options{costLimit: DefaultCostLimit}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Names of the variables and functions in the environments.
const (
	varAnswers     = "answers"
	varComment     = "comment"
	varSentiment   = "sentiment"
	varThemes      = "themes"
	varCustomer    = "customer"
	varMetadata    = "metadata"
	varTouchpoint  = "touchpoint"
	varSubmittedAt = "submittedAt"

	customerTypeName = "cxloop.Customer"
	answersTypeName  = "cxloop.Answers"
)

var mapStringString = cel.MapType(cel.StringType, cel.StringType)

// customerType is the structured customer variable of the response and case
// environments.
var customerType = newObjectType(customerTypeName, []objectField{
	{name: "id", typ: types.StringType, zero: types.String("")},
	{name: "tier", typ: types.StringType, zero: types.String("")},
	{name: "segment", typ: types.StringType, zero: types.String("")},
	{name: "attributes", typ: mapStringString, zero: types.NewStringStringMap(types.DefaultTypeAdapter, nil)},
})

// newCustomer converts a customer; fields left empty are not set.
func newCustomer(id, tier, segment string, attributes map[string]string) *object {
	c := customerType.newObject()
	if id != "" {
		c.vals[0] = types.String(id)
	}
	if tier != "" {
		c.vals[1] = types.String(tier)
	}
	if segment != "" {
		c.vals[2] = types.String(segment)
	}
	if len(attributes) > 0 {
		c.vals[3] = types.NewStringStringMap(types.DefaultTypeAdapter, attributes)
	}
	return c
}

var identifier = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// hasThemeMacro expands has_theme(x) to x in themes.
var hasThemeMacro = cel.GlobalMacro("has_theme", 1,
	func(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
		return eh.NewCall(operators.In, args[0], eh.NewIdent(varThemes)), nil
	})

// hasAnswerMacro expands has_answer('id') to has(answers.id), so that an
// unknown question id fails to compile like answers.id would.
var hasAnswerMacro = cel.GlobalMacro("has_answer", 1,
	func(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
		arg := args[0]
		if arg.Kind() == ast.LiteralKind {
			if id, ok := arg.AsLiteral().(types.String); ok {
				if !identifier.MatchString(string(id)) {
					return nil, eh.NewError(arg.ID(), fmt.Sprintf("has_answer: '%s' is not a question id", id))
				}
				return eh.NewPresenceTest(eh.NewIdent(varAnswers), string(id)), nil
			}
		}
		return nil, eh.NewError(arg.ID(), "has_answer takes a question id in quotes, for example has_answer('completed')")
	})

// baseEnvOptions are shared by every environment.
func baseEnvOptions() []cel.EnvOption {
	return []cel.EnvOption{
		ext.Strings(),
		cel.OptionalTypes(),
		cel.CrossTypeNumericComparisons(true),
		cel.EnableIdentifierEscapeSyntax(),
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
			cel.ValidateHomogeneousAggregateLiterals(),
			cel.ValidateComprehensionNestingLimit(2),
		),
	}
}

// compiled is a checked expression turned into a program.
type compiled struct {
	expr string
	prg  cel.Program
	// ast is the checked expression, which the rule index reads.
	ast *cel.Ast
	// tracked is true when the program counts its cost at run time.
	tracked bool
}

// compile parses, checks and plans expr; its result must have type want.
//
// A program whose worst-case cost, estimated at compile time from the
// sizes the estimator knows, is within the cost limit runs without
// run-time cost tracking (which would cost more than evaluating it); any
// other program is stopped at run time when it reaches the limit.
func compile(env *cel.Env, expr string, want *cel.Type, o options, sizes checker.CostEstimator, hint hinter) (*compiled, error) {
	if expr == "" {
		return nil, compileErrorf(expr, "expression is empty")
	}
	checked, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, newCompileError(expr, iss, hint)
	}
	if got := checked.OutputType(); !got.IsExactType(want) && !got.IsExactType(cel.DynType) {
		return nil, compileErrorf(expr, "expression must evaluate to %s, but has type %s", want, got)
	}
	progOpts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	tracked := false
	if o.costLimit > 0 {
		if sizes == nil {
			sizes = unknownSizes{}
		}
		est, err := env.EstimateCost(checked, sizes)
		if err != nil || est.Max > o.costLimit {
			progOpts = append(progOpts, cel.CostLimit(o.costLimit))
			tracked = true
		}
	}
	prg, err := env.Program(checked, progOpts...)
	if err != nil {
		return nil, compileErrorf(expr, "%v", err)
	}
	return &compiled{expr: expr, prg: prg, ast: checked, tracked: tracked}, nil
}

// evalBool evaluates a program whose result is a bool.
func (c *compiled) evalBool(act any) (bool, error) {
	out, _, err := c.prg.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("expression evaluated to %s, not bool", out.Type().TypeName())
	}
	return bool(b), nil
}

// evalString evaluates a program whose result is a string.
func (c *compiled) evalString(act any) (string, error) {
	out, _, err := c.prg.Eval(act)
	if err != nil {
		return "", err
	}
	s, ok := out.(types.String)
	if !ok {
		return "", fmt.Errorf("expression evaluated to %s, not string", out.Type().TypeName())
	}
	return string(s), nil
}

// unknownSizes is the cost estimator of environments whose variables have
// no known bounds: any program that walks a string, list or map is
// tracked at run time.
type unknownSizes struct{}

func (unknownSizes) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }

func (unknownSizes) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}
