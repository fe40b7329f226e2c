package controllers

import (
	"context"
	"fmt"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
	tpstatus "github.com/cxloop/cxloop/internal/touchpoint"
	"github.com/cxloop/cxloop/internal/validate"
)

// SurveyTouchpointReconciler turns a touchpoint into a running collector:
// ConfigMap, ServiceAccount and Role, Service, and a StatefulSet with a
// volume (embedded store) or a Deployment with a PodDisruptionBudget
// (PostgreSQL).
type SurveyTouchpointReconciler struct {
	client.Client
	// APIReader reads Secrets uncached (only their metadata is watched).
	APIReader client.Reader
	Recorder  recorder.EventRecorder
	// CollectorImage runs `cxloop collector`.
	CollectorImage string
	// Collectors reads each ready collector's GET /v1/status for the
	// touchpoint's response counts and outbox (default: a client with a
	// 30 s timeout).
	Collectors *collectorclient.Client
	// Endpoint overrides status.endpoint as the address the manager reads
	// the collector at (tests, the in-process demo).
	Endpoint func(tp *cxv1alpha1.SurveyTouchpoint) string
	// StatusEvery is how often the counts are refreshed (default 1m).
	StatusEvery time.Duration
	// OutboxBlockedAfter is how long the oldest outbox action may wait
	// before the touchpoint reports the outbox blocked (default 15m).
	OutboxBlockedAfter time.Duration
}

func (r *SurveyTouchpointReconciler) check(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint) (outcome, ctrl.Result, error) {
	problems, err := r.missingSecrets(ctx, tp)
	if err != nil {
		return outcome{}, ctrl.Result{}, err
	}
	if len(problems) > 0 {
		// Do not deploy pods that would crash-loop on a missing Secret; the
		// Secret watch brings the touchpoint back when it appears.
		return problemsOutcome(problems), ctrl.Result{}, nil
	}
	if err := r.reconcileChildren(ctx, tp); err != nil {
		return outcome{}, ctrl.Result{}, err
	}
	ready, err := r.readyReplicas(ctx, tp)
	if err != nil {
		return outcome{}, ctrl.Result{}, err
	}
	tp.Status.ReadyReplicas = ready
	tp.Status.Endpoint = collectorEndpoint(tp)
	want := desiredReplicas(tp)
	var result ctrl.Result
	countsNote := ""
	if ready > 0 {
		// Counts change without any Kubernetes event: refresh them on a
		// timer while a collector runs.
		result.RequeueAfter = r.statusEvery()
		if err := r.refreshCounts(ctx, tp); err != nil {
			ctrl.LoggerFrom(ctx).V(1).Info("collector status not read", "error", err.Error())
			countsNote = "; response counts not refreshed: " + err.Error()
		}
	}
	if ready < want {
		return outcome{reason: cxv1alpha1.ReasonProgressing, message: fmt.Sprintf("collector %d/%d replicas ready%s", ready, want, countsNote), reconciling: true}, result, nil
	}
	if ob := tp.Status.Outbox; ob != nil && ob.Blocked {
		return outcome{reason: cxv1alpha1.ReasonOutboxBlocked, message: truncate(tpstatus.BlockedMessage(ob, r.outboxBlockedAfter()), maxConditionMessage)}, result, nil
	}
	return readyOutcome(fmt.Sprintf("collector %d/%d replicas ready at %s%s", ready, want, tp.Status.Endpoint, countsNote)), result, nil
}

func (r *SurveyTouchpointReconciler) statusEvery() time.Duration {
	if r.StatusEvery > 0 {
		return r.StatusEvery
	}
	return time.Minute
}

// refreshCounts copies the collector's response counts and outbox state
// into the touchpoint's status. On failure the previous counts stay.
func (r *SurveyTouchpointReconciler) refreshCounts(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint) error {
	c := r.Collectors
	if c == nil {
		c = collectorclient.New(nil)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	target, err := CollectorTargets{Reader: r.APIReader, Endpoint: r.Endpoint}.Target(ctx, tp)
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, target)
	if err != nil {
		return err
	}
	var storeErr error
	if st.StoreError != "" {
		// Counts can be read but writes fail: the collector is not ready.
		storeErr = fmt.Errorf("the collector cannot write to its store: %s", st.StoreError)
	}
	counts := &cxv1alpha1.ResponseCounts{Total: st.Total, Last24h: st.Last24h}
	if st.LastResponseTime != nil {
		counts.LastResponseTime = &metav1.Time{Time: *st.LastResponseTime}
	}
	tp.Status.Responses = counts
	outbox := tpstatus.Outbox(st, time.Now(), r.outboxBlockedAfter())
	tp.Status.Outbox = outbox
	if inv := st.Invitations; inv != nil {
		tp.Status.Invitations = &cxv1alpha1.InvitationCounts{Scheduled: inv.Scheduled, Sent: inv.Sent, Reminded: inv.Reminded,
			Failed: inv.Failed, Skipped: inv.Skipped, Answered: inv.Answered, Acknowledged: inv.Acknowledged,
			FollowUpsWaiting: inv.FollowUpsWaiting, FollowUpsSent: inv.FollowUpsSent, FollowUpsAnswered: inv.FollowUpsAnswered, FollowUpsExpired: inv.FollowUpsExpired}
	}
	tpstatus.CopyPrediction(tp, st)
	return storeErr
}

func (r *SurveyTouchpointReconciler) outboxBlockedAfter() time.Duration {
	if r.OutboxBlockedAfter > 0 {
		return r.OutboxBlockedAfter
	}
	return tpstatus.DefaultBlockedAfter
}

func (r *SurveyTouchpointReconciler) missingSecrets(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint) (validate.Problems, error) {
	refs := secretRefs(tp)
	needs := make([]secretNeed, 0, len(refs))
	for _, ref := range refs {
		needs = append(needs, secretNeed{field: ref.Field, name: ref.Name, keys: []string{ref.Key}})
	}
	return secretProblems(ctx, r.APIReader, tp.Namespace, needs)
}

// reconcileChildren creates or updates every child, setting only the fields
// cxloop owns, and removes the workload of the other store type.
func (r *SurveyTouchpointReconciler) reconcileChildren(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint) error {
	cm, err := buildCollectorConfigMap(tp)
	if err != nil {
		return err
	}
	hash := configHash(cm, tp)

	if err := apply(ctx, r.Client, tp, cm, func(existing *corev1.ConfigMap) { existing.Data = cm.Data }); err != nil {
		return err
	}
	if err := apply(ctx, r.Client, tp, buildCollectorServiceAccount(tp), func(*corev1.ServiceAccount) {}); err != nil {
		return err
	}
	if err := r.ensureAPISecret(ctx, tp); err != nil {
		return err
	}
	secrets, err := collectorSecretNames(ctx, r.Client, tp)
	if err != nil {
		return err
	}
	role := buildCollectorRole(tp, secrets)
	if err := apply(ctx, r.Client, tp, role, func(existing *rbacv1.Role) { existing.Rules = role.Rules }); err != nil {
		return err
	}
	rb := buildCollectorRoleBinding(tp)
	if err := apply(ctx, r.Client, tp, rb, func(existing *rbacv1.RoleBinding) {
		existing.RoleRef, existing.Subjects = rb.RoleRef, rb.Subjects
	}); err != nil {
		return err
	}
	svc := buildCollectorService(tp)
	if err := apply(ctx, r.Client, tp, svc, func(existing *corev1.Service) {
		existing.Spec.Selector, existing.Spec.Ports, existing.Spec.Type = svc.Spec.Selector, svc.Spec.Ports, svc.Spec.Type
	}); err != nil {
		return err
	}

	if usesPostgres(tp) {
		dep := buildCollectorDeployment(tp, r.CollectorImage, hash)
		if err := apply(ctx, r.Client, tp, dep, func(existing *appsv1.Deployment) {
			existing.Spec.Replicas, existing.Spec.Template, existing.Spec.Strategy = dep.Spec.Replicas, dep.Spec.Template, dep.Spec.Strategy
			if existing.Spec.Selector == nil {
				existing.Spec.Selector = dep.Spec.Selector
			}
		}); err != nil {
			return err
		}
		if err := r.deleteIfPresent(ctx, tp, &appsv1.StatefulSet{}); err != nil {
			return err
		}
		if desiredReplicas(tp) > 1 {
			pdb := buildCollectorPDB(tp)
			return apply(ctx, r.Client, tp, pdb, func(existing *policyv1.PodDisruptionBudget) { existing.Spec = pdb.Spec })
		}
		return r.deleteIfPresent(ctx, tp, &policyv1.PodDisruptionBudget{})
	}

	sts := buildCollectorStatefulSet(tp, r.CollectorImage, hash)
	if err := apply(ctx, r.Client, tp, sts, func(existing *appsv1.StatefulSet) {
		// Selector, serviceName and volumeClaimTemplates are immutable:
		// they are set once, at creation.
		if existing.CreationTimestamp.IsZero() {
			existing.Spec = sts.Spec
			return
		}
		existing.Spec.Replicas, existing.Spec.Template = sts.Spec.Replicas, sts.Spec.Template
	}); err != nil {
		return err
	}
	if err := r.deleteIfPresent(ctx, tp, &appsv1.Deployment{}); err != nil {
		return err
	}
	return r.deleteIfPresent(ctx, tp, &policyv1.PodDisruptionBudget{})
}

// apply creates or updates a child named like desired, owned by tp. mutate
// copies the owned fields from desired into the live object.
func apply[T client.Object](ctx context.Context, c client.Client, owner *cxv1alpha1.SurveyTouchpoint, desired T, mutate func(T)) error {
	live, ok := desired.DeepCopyObject().(T)
	if !ok {
		return fmt.Errorf("deep copy of %T", desired)
	}
	op, err := controllerutil.CreateOrUpdate(ctx, c, live, func() error {
		labels := live.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, desired.GetLabels())
		live.SetLabels(labels)
		mutate(live)
		return controllerutil.SetControllerReference(owner, live, c.Scheme())
	})
	if err != nil {
		return fmt.Errorf("apply %T %s: %w", desired, desired.GetName(), err)
	}
	if op != controllerutil.OperationResultNone {
		ctrl.LoggerFrom(ctx).V(1).Info("applied collector child", "kind", fmt.Sprintf("%T", desired), "name", desired.GetName(), "operation", op)
	}
	return nil
}

// ensureAPISecret creates the collector's API token Secret when it is
// missing; an existing token is kept as it is. The check reads the
// metadata cache the Secret watch keeps (no request per reconcile); a
// cache that has not seen a fresh Secret yet ends in AlreadyExists.
func (r *SurveyTouchpointReconciler) ensureAPISecret(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint) error {
	existing := &metav1.PartialObjectMetadata{}
	existing.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	err := r.Get(ctx, types.NamespacedName{Namespace: tp.Namespace, Name: CollectorAPISecretName(tp)}, existing)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("read collector API secret: %w", err)
	}
	secret, err := buildCollectorAPISecret(tp)
	if err != nil {
		return err
	}
	if err := controllerutil.SetControllerReference(tp, secret, r.Scheme()); err != nil {
		return err
	}
	if err := r.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create collector API secret: %w", err)
	}
	return nil
}

func (r *SurveyTouchpointReconciler) deleteIfPresent(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint, obj client.Object) error {
	obj.SetNamespace(tp.Namespace)
	obj.SetName(collectorName(tp))
	if err := r.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

func (r *SurveyTouchpointReconciler) readyReplicas(ctx context.Context, tp *cxv1alpha1.SurveyTouchpoint) (int32, error) {
	key := types.NamespacedName{Namespace: tp.Namespace, Name: collectorName(tp)}
	if usesPostgres(tp) {
		dep := &appsv1.Deployment{}
		if err := r.Get(ctx, key, dep); err != nil {
			return 0, client.IgnoreNotFound(err)
		}
		return dep.Status.ReadyReplicas, nil
	}
	sts := &appsv1.StatefulSet{}
	if err := r.Get(ctx, key, sts); err != nil {
		return 0, client.IgnoreNotFound(err)
	}
	return sts.Status.ReadyReplicas, nil
}

// SetupWithManager registers the controller. Children are owned (a change
// or deletion brings the touchpoint back); Secrets are watched by metadata
// only.
func (r *SurveyTouchpointReconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(enqueueAllInNamespace(mgr.GetClient(), &cxv1alpha1.SurveyTouchpointList{}))
	return ctrl.NewControllerManagedBy(mgr).
		For(&cxv1alpha1.SurveyTouchpoint{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ServiceAccount{}).
		Owns(&rbacv1.Role{}).
		Owns(&rbacv1.RoleBinding{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&appsv1.Deployment{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Watches(&corev1.Secret{}, all, builder.OnlyMetadata, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		// The collector's Role names the Secrets of the channels its rules
		// notify: follow rules and channels.
		Watches(&cxv1alpha1.AlertRule{}, all, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&cxv1alpha1.NotificationChannel{}, all, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("surveytouchpoint").
		Complete(&reconciler[*cxv1alpha1.SurveyTouchpoint]{
			client: r.Client, recorder: r.Recorder,
			newObj: func() *cxv1alpha1.SurveyTouchpoint { return &cxv1alpha1.SurveyTouchpoint{} },
			steps:  r.check,
		})
}
