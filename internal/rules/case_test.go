package rules

import (
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func testCase() *cxv1alpha1.Case {
	sentiment := -0.6
	raw := func(s string) apiextensionsv1.JSON { return apiextensionsv1.JSON{Raw: []byte(s)} }
	return &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Name: "upgrade-install-c-42-1", Namespace: "acme"},
		Spec: cxv1alpha1.CaseSpec{
			Template: "installation-followup",
			Customer: &cxv1alpha1.Customer{
				ID: "c-42", Tier: "Gold", Segment: "enterprise",
				Attributes: map[string]string{"region": "emea"},
			},
			Source: &cxv1alpha1.CaseSource{
				Rule:       "install-failed",
				RuleKind:   cxv1alpha1.AlertEscalation,
				Touchpoint: "upgrade-install",
				ResponseID: "r-1",
				Response: &cxv1alpha1.ResponseSnapshot{
					Answers: map[string]apiextensionsv1.JSON{
						"ease":      raw("4"),
						"completed": raw("false"),
						"score":     raw("3.5"),
						"platform":  raw(`"linux"`),
						"blockers":  raw(`["docs", "license"]`),
						"skipped":   raw("null"),
					},
					Comment:     "The installer failed.",
					Sentiment:   &sentiment,
					Themes:      []string{"docs"},
					Metadata:    map[string]string{"store": "berlin"},
					SubmittedAt: &metav1.Time{Time: time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)},
				},
			},
			Severity: cxv1alpha1.SeverityUrgent,
			Category: "installation",
		},
	}
}

func TestCaseCompileErrors(t *testing.T) {
	env, err := NewCaseEnv()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ expr, want string }{
		{"region == 'emea'", "1:1: undeclared reference to 'region' (variables: customer, answers, metadata, comment, sentiment, themes, touchpoint, rule, severity, category)"},
		{"customer.region == 'emea'", "1:9: undefined field 'region'"},
		{"metadata.store", "1:1: expression must evaluate to bool, but has type string"},
		{"severity == 3", "1:10: found no matching overload for '_==_' applied to '(string, int)'"},
		{"metadata.store == 'berlin' &&", "1:30: Syntax error: mismatched input '<EOF>' expecting"},
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

func TestCaseEval(t *testing.T) {
	env, err := NewCaseEnv()
	if err != nil {
		t.Fatal(err)
	}
	bare := func(c *cxv1alpha1.Case) { c.Spec.Customer, c.Spec.Source = nil, nil }
	tests := []struct {
		expr    string
		edit    func(*cxv1alpha1.Case)
		want    bool
		errText string
	}{
		{expr: "customer.id == 'c-42'", want: true},
		{expr: "customer.tier == 'Gold' && customer.segment == 'enterprise'", want: true},
		{expr: "customer.attributes.region == 'emea'", want: true},
		{expr: "metadata.store == 'berlin'", want: true},
		{expr: "answers.ease <= 5", want: true},
		{expr: "answers.ease == 4", want: true},
		{expr: "answers.score < 4", want: true},
		{expr: "answers.completed == false", want: true},
		{expr: "answers.platform == 'linux'", want: true},
		{expr: "'docs' in answers.blockers", want: true},
		{expr: "has(answers.skipped)", want: false},
		{expr: "has_answer('ease')", want: true},
		{expr: "has(answers.nope)", want: false},
		{expr: "answers.nope == 1", errText: "no such key: nope"},
		{expr: "comment.contains('failed')", want: true},
		{expr: "sentiment < 0", want: true},
		{expr: "has_theme('docs')", want: true},
		{expr: "touchpoint == 'upgrade-install'", want: true},
		{expr: "rule == 'install-failed'", want: true},
		{expr: "severity == 'Urgent'", want: true},
		{expr: "category == 'installation'", want: true},
		// A strategic Case has no customer and no response.
		{expr: "customer.id == '' && !has(customer.tier) && size(answers) == 0 && size(metadata) == 0", edit: bare, want: true},
		{expr: "size(themes) == 0 && sentiment == 0.0 && comment == ''", edit: bare, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			p, err := env.Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			c := testCase()
			if tt.edit != nil {
				tt.edit(c)
			}
			got, err := p.Eval(c)
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) || got {
					t.Fatalf("Eval = %v, %v; want error containing %q", got, err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Errorf("Eval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCaseActivationErrors(t *testing.T) {
	if _, err := NewCaseActivation(nil); err == nil || err.Error() != "case is nil" {
		t.Errorf("nil case: %v", err)
	}
	c := testCase()
	c.Spec.Source.Response.Answers["ease"] = apiextensionsv1.JSON{Raw: []byte("{")}
	_, err := NewCaseActivation(c)
	if err == nil || !strings.HasPrefix(err.Error(), "spec.source.response.answers.ease: not valid JSON") {
		t.Errorf("bad JSON: %v", err)
	}
}
