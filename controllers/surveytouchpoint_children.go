package controllers

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
)

// Names, labels and ports of a touchpoint's collector. Everything is derived
// from the touchpoint's name so reconciliation is idempotent.
const (
	labelManagedBy    = "app.kubernetes.io/managed-by"
	labelName         = "app.kubernetes.io/name"
	labelComponent    = "app.kubernetes.io/component"
	labelInstance     = "app.kubernetes.io/instance"
	labelTouchpoint   = "cx.cxloop.io/touchpoint"
	managedByValue    = "cxloop"
	componentValue    = "collector"
	annotationConfig  = "cx.cxloop.io/config-hash"
	collectorPort     = 8080
	collectorPortName = "http"
	// The private surface: credentialed API and Prometheus metrics,
	// reachable only from the manager's namespace (the NetworkPolicy).
	collectorPrivatePort     = 8081
	collectorPrivatePortName = "api"
	dataVolume               = "data"
	dataMountPath            = "/var/lib/cxloop"
	configVolume             = "config"
	configMountPath          = "/etc/cxloop"
	configFileName           = "collector.json"
	tmpVolume                = "tmp"
)

// collectorName is the name of every child of a touchpoint.
func collectorName(tp *cxv1alpha1.SurveyTouchpoint) string {
	return tp.Name + "-collector"
}

// CollectorAPITokenKey is the key of the collector API Secret that holds
// the bearer token the manager uses for the collector's archive API.
const CollectorAPITokenKey = "token"

// ProgramAPISecretName is the optional Secret (key "token") with a
// program-wide credential every collector of the namespace accepts on its
// private surface, for business systems that call several touchpoints.
const ProgramAPISecretName = "cxloop-program-api"

// CollectorAPISecretName is the Secret, owned by the touchpoint, with the
// token of its collector's private API.
func CollectorAPISecretName(tp *cxv1alpha1.SurveyTouchpoint) string {
	return tp.Name + "-collector-api"
}

// buildCollectorAPISecret is a new random token. It is created once and
// never rewritten: changing it would need the pods to restart.
func buildCollectorAPISecret(tp *cxv1alpha1.SurveyTouchpoint) (*corev1.Secret, error) {
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return nil, fmt.Errorf("generate collector API token: %w", err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: CollectorAPISecretName(tp), Namespace: tp.Namespace, Labels: collectorLabels(tp)},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{CollectorAPITokenKey: []byte(hex.EncodeToString(token))},
	}, nil
}

func collectorSelector(tp *cxv1alpha1.SurveyTouchpoint) map[string]string {
	return map[string]string{
		labelName:     "cxloop-collector",
		labelInstance: tp.Name,
	}
}

func collectorLabels(tp *cxv1alpha1.SurveyTouchpoint) map[string]string {
	l := collectorSelector(tp)
	l[labelManagedBy] = managedByValue
	l[labelComponent] = componentValue
	l[labelTouchpoint] = tp.Name
	return l
}

func collectorConfig(tp *cxv1alpha1.SurveyTouchpoint) collector.FileConfig {
	cfg := collector.FileConfig{
		Namespace:            tp.Namespace,
		Touchpoint:           tp.Name,
		Store:                "sqlite",
		SQLitePath:           dataMountPath + "/responses.db",
		ListenAddress:        fmt.Sprintf(":%d", collectorPort),
		PrivateListenAddress: fmt.Sprintf(":%d", collectorPrivatePort),
		Spec:                 tp.Spec,
		Generation:           tp.Generation,
	}
	if usesPostgres(tp) {
		cfg.Store, cfg.SQLitePath = "postgres", ""
	}
	return cfg
}

func usesPostgres(tp *cxv1alpha1.SurveyTouchpoint) bool {
	return tp.Spec.Storage != nil && tp.Spec.Storage.Type == cxv1alpha1.StoragePostgreSQL
}

func desiredReplicas(tp *cxv1alpha1.SurveyTouchpoint) int32 {
	if !usesPostgres(tp) {
		return 1
	}
	if c := tp.Spec.Collector; c != nil && c.Replicas != nil {
		return *c.Replicas
	}
	return 1
}

// buildCollectorConfigMap renders the collector's configuration.
func buildCollectorConfigMap(tp *cxv1alpha1.SurveyTouchpoint) (*corev1.ConfigMap, error) {
	raw, err := json.MarshalIndent(collectorConfig(tp), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render collector config: %w", err)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: collectorName(tp), Namespace: tp.Namespace, Labels: collectorLabels(tp)},
		Data:       map[string]string{configFileName: string(raw)},
	}, nil
}

// configHash changes whenever the collector's configuration or the Secret
// references change; as a pod annotation it rolls the collector.
func configHash(cm *corev1.ConfigMap, tp *cxv1alpha1.SurveyTouchpoint) string {
	h := sha256.New()
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, cm.Data[k])
	}
	for _, ref := range secretRefs(tp) {
		fmt.Fprintf(h, "secret %s/%s\n", ref.Name, ref.Key)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// touchpointSecretRef is a Secret key the collector needs, with the field
// that names it.
type touchpointSecretRef struct {
	Field string
	cxv1alpha1.SecretKeyReference
	Env string
}

func secretRefs(tp *cxv1alpha1.SurveyTouchpoint) []touchpointSecretRef {
	var refs []touchpointSecretRef
	if usesPostgres(tp) && tp.Spec.Storage.Postgres != nil {
		refs = append(refs, touchpointSecretRef{Field: "spec.storage.postgres.dsnSecretRef", SecretKeyReference: tp.Spec.Storage.Postgres.DSNSecretRef, Env: collector.EnvStoreDSN})
	}
	if inv := tp.Spec.Invitations; inv != nil {
		refs = append(refs, touchpointSecretRef{Field: "spec.invitations.signingKeySecretRef", SecretKeyReference: inv.SigningKeySecretRef, Env: collector.EnvSigningKey})
	}
	return refs
}

func buildCollectorService(tp *cxv1alpha1.SurveyTouchpoint) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: collectorName(tp), Namespace: tp.Namespace, Labels: collectorLabels(tp)},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: collectorSelector(tp),
			Ports: []corev1.ServicePort{
				{Name: collectorPortName, Port: 80, TargetPort: intstr.FromString(collectorPortName), Protocol: corev1.ProtocolTCP},
				{Name: collectorPrivatePortName, Port: collectorPrivatePort, TargetPort: intstr.FromString(collectorPrivatePortName), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// collectorEndpoint is the in-cluster URL of the collector Service's
// public surface (status.endpoint: where responses are posted).
func collectorEndpoint(tp *cxv1alpha1.SurveyTouchpoint) string {
	return fmt.Sprintf("http://%s.%s.svc", collectorName(tp), tp.Namespace)
}

// collectorPrivateEndpoint is the in-cluster URL of the private surface,
// which the manager calls.
func collectorPrivateEndpoint(tp *cxv1alpha1.SurveyTouchpoint) string {
	return fmt.Sprintf("http://%s.%s.svc:%d", collectorName(tp), tp.Namespace, collectorPrivatePort)
}

func buildCollectorServiceAccount(tp *cxv1alpha1.SurveyTouchpoint) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: collectorName(tp), Namespace: tp.Namespace, Labels: collectorLabels(tp)},
	}
}

// buildCollectorRole grants a collector what it needs in its namespace and
// nothing more: read its touchpoint, rules and templates; open Cases, watch
// its touchpoint's, add responses to them and record the customer's
// follow-up answer (the custom verbs merge-responses and
// record-customer-answer, the only changes of a Case the admission
// policies let a collector make); read exactly the
// Secrets its touchpoint and the channels it delivers to name (secrets, from
// collectorSecretNames), and no other.
func buildCollectorRole(tp *cxv1alpha1.SurveyTouchpoint, secrets []string) *rbacv1.Role {
	const get = "get"
	cx := []string{cxv1alpha1.GroupVersion.Group}
	read := []string{get, "list", "watch"}
	getPatch := []string{get, "patch"}
	rules := []rbacv1.PolicyRule{
		{APIGroups: cx, Resources: []string{"surveytouchpoints"}, ResourceNames: []string{tp.Name}, Verbs: read},
		{APIGroups: cx, Resources: []string{"alertrules", "casetemplates", "notificationchannels"}, Verbs: read},
		// The outbox: create opens a Case; get reads a dedup key's Case by
		// its name (the store's case ledger names it); patch with
		// merge-responses adds a response to relatedResponses. list and
		// watch (the collector selects its touchpoint's Cases) tell it
		// when a Case closes, which owes the customer the follow-up;
		// patch with record-customer-answer writes the answer to
		// resolution.customerRecovered when nobody set it. Those two
		// patches are the only changes the admission policies let a
		// collector make.
		{APIGroups: cx, Resources: []string{"cases"}, Verbs: []string{get, "list", "watch", "create", "patch", VerbMergeResponses, VerbRecordCustomerAnswer}},
		// Rule notifications: the notifier records deliveries in the
		// channel's status.
		{APIGroups: cx, Resources: []string{"notificationchannels/status"}, Verbs: getPatch},
		// Rules' status.matches and lastMatchTime.
		{APIGroups: cx, Resources: []string{"alertrules/status"}, Verbs: getPatch},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	// An empty resourceNames would grant every Secret: without a Secret to
	// read, the rule is left out.
	if len(secrets) > 0 {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: secrets, Verbs: []string{get}})
	}
	return &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: collectorName(tp), Namespace: tp.Namespace, Labels: collectorLabels(tp)},
		Rules:      rules,
	}
}

// VerbMergeResponses is the custom verb on cases that lets a collector add
// responses to spec.relatedResponses of an open Case, and nothing else
// (config/admission, policy case-team-access).
const VerbMergeResponses = "merge-responses"

// VerbRecordCustomerAnswer is the custom verb on cases that lets a
// collector set spec.resolution.customerRecovered from the customer's
// answer to the follow-up, when it is not set, even on a Closed Case, and
// nothing else (config/admission, policy case-team-access).
const VerbRecordCustomerAnswer = "record-customer-answer"

func buildCollectorRoleBinding(tp *cxv1alpha1.SurveyTouchpoint) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: collectorName(tp), Namespace: tp.Namespace, Labels: collectorLabels(tp)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: collectorName(tp)},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: collectorName(tp), Namespace: tp.Namespace}},
	}
}

// defaultCollectorResources apply when spec.collector.resources is empty.
func defaultCollectorResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
}

// buildCollectorPodTemplate is the pod shared by the StatefulSet (embedded
// store) and the Deployment (PostgreSQL).
func buildCollectorPodTemplate(tp *cxv1alpha1.SurveyTouchpoint, image, hash string) corev1.PodTemplateSpec {
	resources := defaultCollectorResources()
	if c := tp.Spec.Collector; c != nil && c.Resources != nil {
		resources = *c.Resources
	}
	refs := secretRefs(tp)
	env := make([]corev1.EnvVar, 0, len(refs)+2)
	for _, ref := range refs {
		env = append(env, corev1.EnvVar{Name: ref.Env, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: ref.Key,
		}}})
	}
	env = append(env, corev1.EnvVar{Name: collector.EnvAPIToken, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: CollectorAPISecretName(tp)}, Key: CollectorAPITokenKey,
	}}}, corev1.EnvVar{Name: collector.EnvProgramAPIToken, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: ProgramAPISecretName}, Key: CollectorAPITokenKey, Optional: ptr.To(true),
	}}})
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString(collectorPortName)}},
			PeriodSeconds: period, TimeoutSeconds: 2, FailureThreshold: 3,
		}
	}
	mounts := []corev1.VolumeMount{
		{Name: configVolume, MountPath: configMountPath, ReadOnly: true},
		{Name: tmpVolume, MountPath: "/tmp"},
	}
	volumes := []corev1.Volume{
		{Name: configVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: collectorName(tp)}}}},
		{Name: tmpVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if !usesPostgres(tp) {
		mounts = append(mounts, corev1.VolumeMount{Name: dataVolume, MountPath: dataMountPath})
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      collectorLabels(tp),
			Annotations: map[string]string{annotationConfig: hash},
		},
		Spec: corev1.PodSpec{
			ServiceAccountName:            collectorName(tp),
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](65532),
				RunAsGroup:     ptr.To[int64](65532),
				FSGroup:        ptr.To[int64](65532),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:    "collector",
				Image:   image,
				Command: []string{"/cxloop"},
				Args:    collectorArgs(tp),
				Ports: []corev1.ContainerPort{
					{Name: collectorPortName, ContainerPort: collectorPort, Protocol: corev1.ProtocolTCP},
					{Name: collectorPrivatePortName, ContainerPort: collectorPrivatePort, Protocol: corev1.ProtocolTCP},
				},
				Env: env,
				// /readyz fails while the store is unreachable, taking the
				// pod out of the Service; /healthz only restarts a hung
				// process.
				ReadinessProbe: probe("/readyz", 5),
				LivenessProbe:  probe("/healthz", 10),
				Resources:      resources,
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
				VolumeMounts: mounts,
			}},
			Volumes: volumes,
		},
	}
}

// buildCollectorStatefulSet runs the embedded (SQLite) store: one replica
// that owns its volume.
// collectorArgs is the collector's command line: its configuration file,
// and --profiling when spec.collector.profiling asks for it.
func collectorArgs(tp *cxv1alpha1.SurveyTouchpoint) []string {
	args := []string{"collector", "--config=" + configMountPath + "/" + configFileName}
	if c := tp.Spec.Collector; c != nil && c.Profiling {
		args = append(args, "--profiling")
	}
	return args
}

func buildCollectorStatefulSet(tp *cxv1alpha1.SurveyTouchpoint, image, hash string) *appsv1.StatefulSet {
	size := resource.MustParse("1Gi")
	var class *string
	if s := tp.Spec.Storage; s != nil && s.Embedded != nil {
		if s.Embedded.Size != nil {
			size = *s.Embedded.Size
		}
		class = s.Embedded.StorageClassName
	}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: collectorName(tp), Namespace: tp.Namespace, Labels: collectorLabels(tp)},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](1),
			ServiceName: collectorName(tp),
			Selector:    &metav1.LabelSelector{MatchLabels: collectorSelector(tp)},
			Template:    buildCollectorPodTemplate(tp, image, hash),
			// The claim outlives a touchpoint edit but not the touchpoint:
			// deleting the touchpoint deletes its responses' volume.
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: dataVolume, Labels: collectorLabels(tp)},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: class,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}},
				},
			}},
		},
	}
}

// buildCollectorDeployment runs replicas against the shared PostgreSQL.
func buildCollectorDeployment(tp *cxv1alpha1.SurveyTouchpoint, image, hash string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: collectorName(tp), Namespace: tp.Namespace, Labels: collectorLabels(tp)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(desiredReplicas(tp)),
			Selector: &metav1.LabelSelector{MatchLabels: collectorSelector(tp)},
			Template: buildCollectorPodTemplate(tp, image, hash),
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromInt32(1)),
				},
			},
		},
	}
}

// buildCollectorPDB keeps at least one collector up through voluntary
// disruptions when there are several.
func buildCollectorPDB(tp *cxv1alpha1.SurveyTouchpoint) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: collectorName(tp), Namespace: tp.Namespace, Labels: collectorLabels(tp)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: collectorSelector(tp)},
		},
	}
}
