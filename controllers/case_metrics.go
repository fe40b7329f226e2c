package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/cases"
)

// Case metrics, on controller-runtime's registry (served by the manager's
// /metrics).
//
//	cxloop_cases_open{namespace,template,severity}         gauge: Cases not Closed
//	cxloop_cases_overdue{namespace,template}               gauge: open Cases with Overdue=True
//	cxloop_case_time_to_first_action_seconds{namespace,template}  histogram
//	cxloop_case_time_to_close_seconds{namespace,template}         histogram
//
// The gauges are computed from the manager's cache at each scrape, so they
// are always what the cluster holds, never the sum of increments that a
// missed event or a restart would skew.
var (
	// deadlineBuckets span minutes to a few weeks.
	deadlineBuckets = []float64{
		60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600,
		24 * 3600, 48 * 3600, 72 * 3600, 7 * 24 * 3600, 14 * 24 * 3600, 30 * 24 * 3600,
	}
	// caseTemplateLabels label the per-template series.
	caseTemplateLabels = []string{"namespace", "template"}

	caseTimeToFirstAction = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cxloop_case_time_to_first_action_seconds",
		Help:    "Time from a Case's opening to the first entry of its action log.",
		Buckets: deadlineBuckets,
	}, caseTemplateLabels)
	caseTimeToClose = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cxloop_case_time_to_close_seconds",
		Help:    "Time from a Case's opening to its closing.",
		Buckets: deadlineBuckets,
	}, caseTemplateLabels)

	openCasesDesc = prometheus.NewDesc("cxloop_cases_open",
		"Cases that are not Closed, by template and severity.", []string{"namespace", "template", "severity"}, nil)
	overdueCasesDesc = prometheus.NewDesc("cxloop_cases_overdue",
		"Cases that are not Closed and past their closure deadline (condition Overdue=True).", caseTemplateLabels, nil)

	registerCaseMetricsOnce sync.Once
)

// caseGauges computes the open and overdue gauges from a cache at scrape
// time.
type caseGauges struct {
	reader client.Reader
}

// Describe implements prometheus.Collector.
func (g caseGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- openCasesDesc
	ch <- overdueCasesDesc
}

// Collect implements prometheus.Collector.
func (g caseGauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var list cxv1alpha1.CaseList
	// The objects are only read: skip the deep copy of every Case.
	if err := g.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(openCasesDesc, err)
		return
	}
	type openKey struct{ ns, tmpl, sev string }
	type overdueKey struct{ ns, tmpl string }
	open := map[openKey]int{}
	overdue := map[overdueKey]int{}
	for i := range list.Items {
		c := &list.Items[i]
		if cases.State(c) == cxv1alpha1.CaseClosed {
			continue
		}
		open[openKey{c.Namespace, c.Spec.Template, string(c.Spec.Severity)}]++
		if apimeta.IsStatusConditionTrue(c.Status.Conditions, cxv1alpha1.ConditionOverdue) {
			overdue[overdueKey{c.Namespace, c.Spec.Template}]++
		}
	}
	for k, n := range open {
		ch <- prometheus.MustNewConstMetric(openCasesDesc, prometheus.GaugeValue, float64(n), k.ns, k.tmpl, k.sev)
	}
	for k, n := range overdue {
		ch <- prometheus.MustNewConstMetric(overdueCasesDesc, prometheus.GaugeValue, float64(n), k.ns, k.tmpl)
	}
}

// registerCaseMetrics registers the Case metrics once per process; the
// gauges read the first manager's cache.
func registerCaseMetrics(reader client.Reader) error {
	var err error
	registerCaseMetricsOnce.Do(func() {
		for _, c := range []prometheus.Collector{caseTimeToFirstAction, caseTimeToClose, caseGauges{reader: reader}} {
			if e := metrics.Registry.Register(c); e != nil {
				var already prometheus.AlreadyRegisteredError
				if !errors.As(e, &already) {
					err = e
				}
			}
		}
	})
	return err
}

// observeLifecycle records the durations a reconciliation saw end.
func observeLifecycle(c *cxv1alpha1.Case, plan *cases.Plan) {
	if plan.TimeToFirstAction != nil {
		caseTimeToFirstAction.WithLabelValues(c.Namespace, c.Spec.Template).Observe(nonNegative(*plan.TimeToFirstAction).Seconds())
	}
	if plan.TimeToClose != nil {
		caseTimeToClose.WithLabelValues(c.Namespace, c.Spec.Template).Observe(nonNegative(*plan.TimeToClose).Seconds())
	}
}

func nonNegative(d time.Duration) time.Duration {
	return max(d, 0)
}
