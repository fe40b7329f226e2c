package rules

import (
	"strings"
	"testing"
)

func TestAggregateCompileErrors(t *testing.T) {
	env, err := NewAggregateEnv()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ expr, want string }{
		{"nps(24h) < 30", "1:7: Syntax error: extraneous input 'h' expecting ')'"},
		{"nps < 30.0", "1:1: undeclared reference to 'nps' (variables: value, previous, delta, has_previous, count, group)"},
		{"value", "1:1: expression must evaluate to bool, but has type double"},
		{"group == 3", "1:7: found no matching overload for '_==_' applied to '(string, int)'"},
		{"has_previous + 1 > 0", "1:14: found no matching overload for '_+_' applied to '(bool, int)'"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := env.Compile(tt.expr)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Compile(%q) error\n got: %v\nwant: %s", tt.expr, err, tt.want)
			}
		})
	}
}

func TestAggregateEval(t *testing.T) {
	env, err := NewAggregateEnv()
	if err != nil {
		t.Fatal(err)
	}
	prev := func(f float64) *float64 { return &f }
	tests := []struct {
		expr string
		in   AggregateInput
		want bool
	}{
		{"value < 30", AggregateInput{Value: 25}, true},
		{"value < 30.0", AggregateInput{Value: 35}, false},
		{"previous == 40.0", AggregateInput{Value: 25, Previous: prev(40)}, true},
		{"delta < -10.0", AggregateInput{Value: 25, Previous: prev(40)}, true},
		{"delta < -10.0", AggregateInput{Value: 35, Previous: prev(40)}, false},
		// No previous window: has_previous is false, previous and delta 0.
		{"delta < -10.0", AggregateInput{Value: 0}, false},
		{"!has_previous && previous == 0.0 && delta == 0.0", AggregateInput{Value: 12}, true},
		{"has_previous && delta < -10.0", AggregateInput{Value: 20, Previous: prev(40)}, true},
		{"value < 30.0 || delta < -10.0", AggregateInput{Value: 50, Previous: prev(70)}, true},
		{"count >= 30", AggregateInput{Count: 31}, true},
		{"count >= 30", AggregateInput{Count: 29}, false},
		{"group == 'emea' && value < 0", AggregateInput{Group: "emea", Value: -5}, true},
		{"group == ''", AggregateInput{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, err := env.Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := p.Eval(tt.in)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Errorf("Eval(%+v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
