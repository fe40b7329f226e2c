// Package controllers holds the cxloop reconcilers. They stay thin: read,
// decide with the domain packages under internal/, write status.
package controllers

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	ctrl "sigs.k8s.io/controller-runtime"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
)

// Options configure all controllers.
type Options struct {
	// CollectorImage is the image of the collector pods of touchpoints.
	CollectorImage string
	// CollectorEndpoint overrides the address of the private surface the
	// manager reads a touchpoint's collector at (tests, the in-process
	// demo); by default it is the collector Service's in-cluster URL on
	// the private port.
	CollectorEndpoint func(tp *cxv1alpha1.SurveyTouchpoint) string
	// CollectorStatusEvery is how often touchpoints' response counts are
	// read from their collectors (default 1m).
	CollectorStatusEvery time.Duration
	// OutboxBlockedAfter is how long a collector's oldest outbox action may
	// wait before its touchpoint reports the outbox blocked (default 15m).
	OutboxBlockedAfter time.Duration
	// Now is the clock of the Case lifecycle (deadlines, RequeueAfter) and
	// of aggregate AlertRule evaluations; default time.Now.
	Now func() time.Time
	// Deliverer sends Case notifications (without one they are recorded as
	// Skipped) and aggregate AlertRule notifications.
	Deliverer notify.Deliverer
	// AggregateSource reads touchpoints' aggregates for aggregate
	// AlertRules and reports; default collectorclient.HTTPSource at the
	// collector's private surface (or CollectorEndpoint).
	AggregateSource AggregateSource
	// CaseArchiver archives closed Cases at the end of their retention;
	// without one closed Cases are kept.
	CaseArchiver CaseArchiver
	// NotificationBaseURL prefixes Case and report links in messages
	// (<base>/namespaces/<ns>/cases/<name>, .../reports/<name>).
	NotificationBaseURL string
}

// SetupWithManager registers every cxloop controller with mgr.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	setups := []struct {
		name  string
		setup func(ctrl.Manager) error
	}{
		{"surveytouchpoint", (&SurveyTouchpointReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("cxloop-surveytouchpoint"), CollectorImage: opts.CollectorImage, Endpoint: opts.CollectorEndpoint, StatusEvery: opts.CollectorStatusEvery, OutboxBlockedAfter: opts.OutboxBlockedAfter}).SetupWithManager},
		{"alertrule", (&AlertRuleReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("cxloop-alertrule"), Source: opts.aggregateSource(mgr.GetAPIReader()), Deliverer: opts.Deliverer, Now: opts.Now}).SetupWithManager},
		{"casetemplate", (&CaseTemplateReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("cxloop-casetemplate")}).SetupWithManager},
		{"case", (&CaseReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("cxloop-case"), Now: opts.Now, Deliverer: opts.Deliverer, Archiver: opts.CaseArchiver, NotificationBaseURL: opts.NotificationBaseURL}).SetupWithManager},
		{"reportsubscription", (&ReportSubscriptionReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("cxloop-reportsubscription"), Source: opts.aggregateSource(mgr.GetAPIReader()), Deliverer: opts.Deliverer, Now: opts.Now, BaseURL: opts.NotificationBaseURL}).SetupWithManager},
		{"notificationchannel", (&NotificationChannelReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("cxloop-notificationchannel")}).SetupWithManager},
	}
	for _, s := range setups {
		if err := s.setup(mgr); err != nil {
			return fmt.Errorf("set up %s controller: %w", s.name, err)
		}
	}
	return nil
}

// ParseProgramNamespaces reads the manager's --program-namespaces: a
// comma-separated list of namespace names, sorted and without duplicates;
// empty means every namespace.
func ParseProgramNamespaces(list string) ([]string, error) {
	var out []string
	for _, ns := range strings.Split(list, ",") {
		ns = strings.TrimSpace(ns)
		if ns == "" {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("%q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		out = append(out, ns)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
