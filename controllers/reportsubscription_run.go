package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/report"
	"github.com/cxloop/cxloop/internal/report/notifymsg"
)

const (
	// reportConfigMapKey holds the last report's JSON in its ConfigMap.
	reportConfigMapKey = "report.json"
	// labelReportSubscription names the subscription of a report ConfigMap.
	labelReportSubscription = "cx.cxloop.io/report-subscription"
	// deliveryTimeout bounds one channel's delivery, retries included.
	deliveryTimeout = 2 * time.Minute
	// maxDeliveryMessage is the API's limit of a DeliveryResult message.
	maxDeliveryMessage = 1024
)

func metaTime(t time.Time) *metav1.Time { return &metav1.Time{Time: t} }

// reportConfigMapName is the ConfigMap keeping a subscription's last report.
func reportConfigMapName(rs *cxv1alpha1.ReportSubscription) string { return rs.Name + "-report" }

// run builds the report ending at runAt, keeps it in the ConfigMap, delivers
// it to every channel and records lastResult and deliveries. Failures are
// the run's outcome, not reconcile errors: the next run is on schedule, and
// a new run-now value retries at once. It reports false, recording
// nothing, when ctx ended first (the manager is stopping): the run stays
// due.
func (r *ReportSubscriptionReconciler) run(ctx context.Context, rs *cxv1alpha1.ReportSubscription, touchpoints []cxv1alpha1.SurveyTouchpoint, runAt time.Time, key string) bool {
	log := ctrl.LoggerFrom(ctx).WithValues("runAt", runAt)
	fail := func(err error) {
		log.Error(err, "report run failed")
		rs.Status.LastResult = cxv1alpha1.ReportFailed
		rs.Status.LastResultMessage = truncate(err.Error(), maxConditionMessage)
		r.eventf(rs, corev1.EventTypeWarning, cxv1alpha1.ReasonReportFailed, "%s", truncate(err.Error(), 1000))
	}
	rd, err := r.render(ctx, rs, touchpoints, runAt)
	if ctx.Err() != nil {
		return false
	}
	if err != nil {
		rs.Status.Deliveries = nil
		fail(err)
		return true
	}
	if err := r.keepReport(ctx, rs, rd.JSON); err != nil {
		if ctx.Err() != nil {
			return false
		}
		rs.Status.Deliveries = nil
		fail(fmt.Errorf("keep the report in ConfigMap %s: %w", reportConfigMapName(rs), err))
		return true
	}

	var failed []string
	deliveries := make([]cxv1alpha1.DeliveryResult, 0, len(rs.Spec.Channels))
	for _, ch := range rs.Spec.Channels {
		res := r.deliver(ctx, rs, rd, ch, key)
		if ctx.Err() != nil {
			return false
		}
		deliveries = append(deliveries, res)
		if res.Outcome != cxv1alpha1.DeliveryDelivered {
			failed = append(failed, fmt.Sprintf("%s: %s", ch, res.Message))
		}
	}
	rs.Status.ReportConfigMap = reportConfigMapName(rs)
	rs.Status.Deliveries = deliveries
	if len(failed) > 0 {
		fail(fmt.Errorf("report not delivered to %d of %d channels: %s", len(failed), len(rs.Spec.Channels), strings.Join(failed, "; ")))
		return true
	}
	rs.Status.LastResult = cxv1alpha1.ReportSucceeded
	rs.Status.LastResultMessage = fmt.Sprintf("%d responses from %d touchpoints, delivered to %d channels", rd.Report.Responses, len(touchpoints), len(rs.Spec.Channels))
	r.eventf(rs, corev1.EventTypeNormal, cxv1alpha1.ReasonReportSent, "%s", rs.Status.LastResultMessage)
	log.Info("report sent", "responses", rd.Report.Responses, "channels", len(rs.Spec.Channels))
	return true
}

// render builds and renders the report.
func (r *ReportSubscriptionReconciler) render(ctx context.Context, rs *cxv1alpha1.ReportSubscription, touchpoints []cxv1alpha1.SurveyTouchpoint, runAt time.Time) (*report.Rendered, error) {
	if r.Source == nil {
		return nil, errors.New("this manager has no source of response aggregates configured")
	}
	var cases cxv1alpha1.CaseList
	var templates cxv1alpha1.CaseTemplateList
	if slices.Contains(report.Sections(&rs.Spec), cxv1alpha1.SectionCases) {
		if err := r.List(ctx, &cases, client.InNamespace(rs.Namespace)); err != nil {
			return nil, fmt.Errorf("list cases: %w", err)
		}
		if err := r.List(ctx, &templates, client.InNamespace(rs.Namespace)); err != nil {
			return nil, fmt.Errorf("list case templates: %w", err)
		}
	}
	rep, err := report.Build(ctx, report.Input{
		Subscription:  rs,
		Touchpoints:   touchpoints,
		Cases:         cases.Items,
		CaseTemplates: templates.Items,
		Source:        r.Source,
		End:           runAt,
		Previous:      r.previousReport(ctx, rs),
	})
	if err != nil {
		return nil, err
	}
	return report.Render(rep)
}

// previousReport reads the last report from the ConfigMap, for the goal
// baselines it started from; nil when there is none or it does not parse.
func (r *ReportSubscriptionReconciler) previousReport(ctx context.Context, rs *cxv1alpha1.ReportSubscription) *report.Report {
	cm := &corev1.ConfigMap{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: reportConfigMapName(rs)}, cm); err != nil {
		return nil
	}
	var prev report.Report
	if err := json.Unmarshal([]byte(cm.Data[reportConfigMapKey]), &prev); err != nil {
		return nil
	}
	return &prev
}

// keepReport writes the report JSON into the subscription's ConfigMap.
func (r *ReportSubscriptionReconciler) keepReport(ctx context.Context, rs *cxv1alpha1.ReportSubscription, data []byte) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: rs.Namespace, Name: reportConfigMapName(rs)}}
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, cm, func() error {
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		cm.Labels[labelManagedBy] = managedByValue
		cm.Labels[labelReportSubscription] = rs.Name
		cm.Data = map[string]string{reportConfigMapKey: string(data)}
		return controllerutil.SetControllerReference(rs, cm, r.Scheme())
	})
	return err
}

// deliver sends the report to one channel, shaped for its type.
func (r *ReportSubscriptionReconciler) deliver(ctx context.Context, rs *cxv1alpha1.ReportSubscription, rd *report.Rendered, channel, key string) cxv1alpha1.DeliveryResult {
	res := cxv1alpha1.DeliveryResult{Channel: channel, Time: metav1.Time{Time: r.now()}}
	if r.Deliverer == nil {
		res.Outcome, res.Message = cxv1alpha1.DeliverySkipped, "this manager has no notification deliverer configured"
		return res
	}
	ch := &cxv1alpha1.NotificationChannel{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: rs.Namespace, Name: channel}, ch); err != nil {
		res.Outcome, res.Message = cxv1alpha1.DeliveryFailed, truncate(fmt.Sprintf("get NotificationChannel %s: %v", channel, err), maxDeliveryMessage)
		return res
	}
	msg, err := rd.Message(ch.Spec.Type, key, r.link(rs))
	if err == nil {
		dctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
		err = r.Deliverer.Deliver(dctx, rs.Namespace, channel, notifymsg.From(msg))
		cancel()
	}
	if err != nil {
		res.Outcome, res.Message = cxv1alpha1.DeliveryFailed, truncate(err.Error(), maxDeliveryMessage)
		return res
	}
	res.Outcome = cxv1alpha1.DeliveryDelivered
	return res
}

// link is where chat messages point: the report in the UI at BaseURL.
func (r *ReportSubscriptionReconciler) link(rs *cxv1alpha1.ReportSubscription) string {
	if r.BaseURL == "" {
		return ""
	}
	return strings.TrimSuffix(r.BaseURL, "/") + "/namespaces/" + url.PathEscape(rs.Namespace) + "/reports/" + url.PathEscape(rs.Name)
}
