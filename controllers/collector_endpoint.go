package controllers

import (
	"fmt"
	"net/url"
	"strings"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// CollectorEndpointTemplate turns the manager's --collector-endpoint into
// the address of every touchpoint's collector private surface, for a
// manager that cannot reach the in-cluster Service names (`make run` on a
// laptop, through `kubectl port-forward`). The template is an http(s) URL
// in which {namespace}, {touchpoint} and {service} (the collector
// Service's name) are replaced, for example
//
//	http://127.0.0.1:9443
//	https://collectors.example.internal/{namespace}/{touchpoint}
//
// The override is a manager flag, not a touchpoint annotation, on
// purpose: the manager sends each collector's API token to that address,
// so only who runs the manager may choose it.
func CollectorEndpointTemplate(tmpl string) (func(tp *cxv1alpha1.SurveyTouchpoint) string, error) {
	probe := strings.NewReplacer("{namespace}", "ns", "{touchpoint}", "tp", "{service}", "svc").Replace(tmpl)
	u, err := url.Parse(probe)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--collector-endpoint %q: want an absolute http(s) URL such as http://127.0.0.1:9443, "+
			"optionally with {namespace}, {touchpoint} and {service}", tmpl)
	}
	if strings.ContainsAny(probe, "{}") {
		return nil, fmt.Errorf("--collector-endpoint %q: unknown placeholder; the placeholders are {namespace}, {touchpoint} and {service}", tmpl)
	}
	tmpl = strings.TrimSuffix(tmpl, "/")
	return func(tp *cxv1alpha1.SurveyTouchpoint) string {
		return strings.NewReplacer(
			"{namespace}", url.PathEscape(tp.Namespace), "{touchpoint}", url.PathEscape(tp.Name), "{service}", collectorName(tp),
		).Replace(tmpl)
	}, nil
}
