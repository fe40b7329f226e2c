package rules

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
)

// ErrNoAnswer is matched (errors.Is) by the evaluation error of an
// expression that reads the answer to a question the response left
// unanswered.
var ErrNoAnswer = errors.New("no answer")

// NoAnswerError is the error of reading an absent answer.
type NoAnswerError struct {
	// Question is the question id.
	Question string
}

func (e *NoAnswerError) Error() string {
	return fmt.Sprintf("no answer to question '%s' (test with has(answers.%s) or answers.?%s.orValue(...))",
		e.Question, e.Question, e.Question)
}

// Is makes errors.Is(err, ErrNoAnswer) true.
func (e *NoAnswerError) Is(target error) bool { return target == ErrNoAnswer }

// Issue is one problem the compiler found, at a position of the
// expression.
type Issue struct {
	// Line is 1-based.
	Line int
	// Column is 1-based, in characters.
	Column int
	// Message says what is wrong.
	Message string
}

func (i Issue) String() string {
	return fmt.Sprintf("%d:%d: %s", i.Line, i.Column, i.Message)
}

// CompileError is returned by the Compile functions when an expression does
// not parse or does not type-check. Its message is one line per issue,
// each "line:column: message", for example
// "1:8: undefined field 'nope' (answers has: completed, ease)".
type CompileError struct {
	// Expression is the expression that failed.
	Expression string
	// Issues found, in source order.
	Issues []Issue
}

func (e *CompileError) Error() string {
	parts := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		parts[i] = is.String()
	}
	return strings.Join(parts, "; ")
}

// macroArity explains a call of a macro with the wrong number of
// arguments, which the checker sees as an unknown function.
var macroArity = map[string]string{
	"undeclared reference to 'has_theme'":  "has_theme takes one argument, a theme name, for example has_theme('refund')",
	"undeclared reference to 'has_answer'": "has_answer takes one argument, a question id, for example has_answer('completed')",
}

// hinter adds a hint to a checker message, given the expression text
// before and from the issue's position.
type hinter func(msg, before, after string) string

func newCompileError(expr string, iss *cel.Issues, hint hinter) *CompileError {
	ce := &CompileError{Expression: expr}
	if iss == nil {
		return ce
	}
	for _, e := range iss.Errors() {
		msg := strings.TrimSuffix(e.Message, " (in container '')")
		line, col := e.Location.Line(), e.Location.Column()
		if m, ok := macroArity[msg]; ok {
			msg = m
		} else if hint != nil {
			before := textBefore(expr, line, col)
			msg = hint(msg, before, expr[len(before):])
		}
		ce.Issues = append(ce.Issues, Issue{Line: line, Column: col + 1, Message: msg})
	}
	return ce
}

// textBefore returns the text of expr before the 1-based line and 0-based
// column (in runes).
func textBefore(expr string, line, col int) string {
	lines := strings.SplitAfter(expr, "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	var b strings.Builder
	for _, l := range lines[:line-1] {
		b.WriteString(l)
	}
	r := []rune(lines[line-1])
	if col > len(r) {
		col = len(r)
	}
	if col > 0 {
		b.WriteString(string(r[:col]))
	}
	return b.String()
}

func compileErrorf(expr, format string, args ...any) *CompileError {
	return &CompileError{Expression: expr, Issues: []Issue{{Line: 1, Column: 1, Message: fmt.Sprintf(format, args...)}}}
}

// variablesHint lists the variables after an "undeclared reference" error.
func variablesHint(vars ...string) hinter {
	list := " (variables: " + strings.Join(vars, ", ") + ")"
	return func(msg, _, _ string) string {
		if strings.HasPrefix(msg, "undeclared reference") {
			return msg + list
		}
		return msg
	}
}
