package rules

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func testTouchpoint() *cxv1alpha1.SurveyTouchpoint {
	return &cxv1alpha1.SurveyTouchpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "upgrade-install", Namespace: "acme"},
		Spec: cxv1alpha1.SurveyTouchpointSpec{
			Channel: cxv1alpha1.ChannelEmail,
			Questions: []cxv1alpha1.Question{
				{ID: "ease", Text: "How easy was it to install?", Type: cxv1alpha1.QuestionRating, Scale: &cxv1alpha1.Scale{Min: 1, Max: 10}, KPI: cxv1alpha1.KPICES},
				{ID: "completed", Text: "Were you able to complete the installation?", Type: cxv1alpha1.QuestionYesNo, Required: true},
				{ID: "nps", Text: "How likely...", Type: cxv1alpha1.QuestionNPS},
				{ID: "platform", Text: "Which platform?", Type: cxv1alpha1.QuestionChoice, Choices: []cxv1alpha1.Choice{{Value: "linux"}, {Value: "windows"}, {Value: "mac"}}},
				{ID: "blockers", Text: "What got in the way?", Type: cxv1alpha1.QuestionChoice, AllowMultiple: true, Choices: []cxv1alpha1.Choice{{Value: "docs"}, {Value: "download"}, {Value: "license"}}},
				{ID: "details", Text: "Tell us more", Type: cxv1alpha1.QuestionText},
			},
		},
	}
}

func testResponse() *Response {
	return &Response{
		ID:         "r-1",
		Touchpoint: "upgrade-install",
		Customer: Customer{
			ID: "c-42", Tier: "Gold", Segment: "enterprise",
			Attributes: map[string]string{"region": "emea", "email": "x@example.com"},
		},
		Answers: map[string]any{
			"ease":      int64(4),
			"completed": false,
			"nps":       int64(3),
			"platform":  "linux",
			"blockers":  []string{"docs", "license"},
		},
		Comment:     "The installer failed twice and the docs were wrong. I want a refund.",
		Sentiment:   -0.7,
		Themes:      []string{"docs", "refund"},
		Metadata:    map[string]string{"store": "berlin", "agent": "ana"},
		SubmittedAt: time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC),
	}
}
