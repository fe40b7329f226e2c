package controllers

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestCollectorEndpointTemplate(t *testing.T) {
	tp := &cxv1alpha1.SurveyTouchpoint{ObjectMeta: metav1.ObjectMeta{Namespace: "acme", Name: "post-install"}}
	for tmpl, want := range map[string]string{
		"http://127.0.0.1:9443/": "http://127.0.0.1:9443",
		"https://collectors.example.internal/{namespace}/{touchpoint}": "https://collectors.example.internal/acme/post-install",
		"http://{service}.{namespace}.example:9443":                    "http://post-install-collector.acme.example:9443",
	} {
		f, err := CollectorEndpointTemplate(tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		if got := f(tp); got != want {
			t.Errorf("%s: %s, want %s", tmpl, got, want)
		}
	}
	for tmpl, wantErr := range map[string]string{
		"127.0.0.1:9443":              "want an absolute http(s) URL",
		"ftp://collectors":            "want an absolute http(s) URL",
		"http://x/{name}":             "unknown placeholder",
		"http:///no-host/{namespace}": "want an absolute http(s) URL",
	} {
		if _, err := CollectorEndpointTemplate(tmpl); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error %v, want %q", tmpl, err, wantErr)
		}
	}
}
