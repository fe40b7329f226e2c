package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// eventually retries fn until it returns nil or the wait times out.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func get(ns, name string, obj client.Object) error {
	return env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

func ownedBy(obj client.Object, tp *cxv1alpha1.SurveyTouchpoint) bool {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.UID == tp.UID && ref.Controller != nil && *ref.Controller {
			return true
		}
	}
	return false
}

// Applying a touchpoint with the embedded store creates the collector's
// children, controlled by the touchpoint (so deleting it garbage-collects
// them; envtest runs no garbage collector, so the owner references are what
// is checked), with a restricted pod.
func TestTouchpointCreatesCollector(t *testing.T) {
	ns := env.Namespace(t)
	tp := touchpoint(ns, "upgrade-install", nil)
	create(t, tp)

	name := "upgrade-install-collector"
	children := []client.Object{&corev1.ConfigMap{}, &corev1.Service{}, &corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}, &appsv1.StatefulSet{}}
	for _, child := range children {
		eventually(t, fmt.Sprintf("child %T", child), func() error { return get(ns, name, child) })
		if !ownedBy(child, tp) {
			t.Errorf("%T %s is not controlled by the touchpoint: %v", child, name, child.GetOwnerReferences())
		}
	}
	if err := get(ns, name, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("embedded store must not create a Deployment: %v", err)
	}

	sts := &appsv1.StatefulSet{}
	_ = get(ns, name, sts)
	if *sts.Spec.Replicas != 1 || len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("statefulset: replicas %d, claims %d; want 1 and 1", *sts.Spec.Replicas, len(sts.Spec.VolumeClaimTemplates))
	}
	c := sts.Spec.Template.Spec.Containers[0]
	if strings.Join(c.Args, " ") != "collector --config=/etc/cxloop/collector.json" || c.Image != "example.com/cxloop:test" {
		t.Errorf("container runs %s %v, want the collector command and the manager's collector image", c.Image, c.Args)
	}
	sc := c.SecurityContext
	if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || !*sc.RunAsNonRoot || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context is not restricted: %+v", sc)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes: readiness %+v liveness %+v", c.ReadinessProbe, c.LivenessProbe)
	}

	// No pods run in envtest, so the collector never becomes ready; the
	// status says so and shows where it will be reached.
	waitReady(t, tp, metav1.ConditionFalse, cxv1alpha1.ReasonProgressing)
	if tp.Status.Endpoint != "http://upgrade-install-collector."+ns+".svc" {
		t.Errorf("endpoint = %q", tp.Status.Endpoint)
	}

	// A StatefulSet reporting its replica ready makes the touchpoint Ready.
	sts.Status.Replicas, sts.Status.ReadyReplicas, sts.Status.AvailableReplicas = 1, 1, 1
	if err := env.Client.Status().Update(context.Background(), sts); err != nil {
		t.Fatal(err)
	}
	waitReady(t, tp, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
	if tp.Status.ReadyReplicas != 1 {
		t.Errorf("readyReplicas = %d, want 1", tp.Status.ReadyReplicas)
	}
}

// Editing the questions updates the configuration and rolls the pods.
func TestTouchpointEditRollsConfiguration(t *testing.T) {
	ns := env.Namespace(t)
	tp := touchpoint(ns, "upgrade-install", nil)
	create(t, tp)
	name := "upgrade-install-collector"
	sts := &appsv1.StatefulSet{}
	eventually(t, "statefulset", func() error { return get(ns, name, sts) })
	hash := sts.Spec.Template.Annotations["cx.cxloop.io/config-hash"]
	if hash == "" {
		t.Fatal("pod template has no config hash annotation")
	}

	update(t, tp, func(tp *cxv1alpha1.SurveyTouchpoint) {
		tp.Spec.Questions = append(tp.Spec.Questions, cxv1alpha1.Question{ID: "docs", Text: "Did the documentation help?", Type: cxv1alpha1.QuestionYesNo})
	})
	eventually(t, "config map with the new question", func() error {
		cm := &corev1.ConfigMap{}
		if err := get(ns, name, cm); err != nil {
			return err
		}
		if !strings.Contains(cm.Data["collector.json"], `"docs"`) {
			return errors.New("config has no question docs yet")
		}
		return nil
	})
	eventually(t, "new config hash", func() error {
		if err := get(ns, name, sts); err != nil {
			return err
		}
		if sts.Spec.Template.Annotations["cx.cxloop.io/config-hash"] == hash {
			return errors.New("hash unchanged")
		}
		return nil
	})

	// spec.collector.profiling turns the collector's profiles on (and
	// rolls the pods with the new command line).
	update(t, tp, func(tp *cxv1alpha1.SurveyTouchpoint) {
		if tp.Spec.Collector == nil {
			tp.Spec.Collector = &cxv1alpha1.CollectorSpec{}
		}
		tp.Spec.Collector.Profiling = true
	})
	eventually(t, "collector started with --profiling", func() error {
		if err := get(ns, name, sts); err != nil {
			return err
		}
		if args := strings.Join(sts.Spec.Template.Spec.Containers[0].Args, " "); args != "collector --config=/etc/cxloop/collector.json --profiling" {
			return fmt.Errorf("collector args %q", args)
		}
		return nil
	})
}

// Switching to PostgreSQL with replicas replaces the StatefulSet by a
// Deployment with a PodDisruptionBudget; a missing DSN Secret is reported
// first and nothing is deployed for it.
func TestTouchpointPostgresReplicasAndMissingSecret(t *testing.T) {
	ns := env.Namespace(t)
	tp := touchpoint(ns, "relationship-nps", nil)
	tp.Spec.Storage = &cxv1alpha1.StorageSpec{
		Type:     cxv1alpha1.StoragePostgreSQL,
		Postgres: &cxv1alpha1.PostgresStorage{DSNSecretRef: cxv1alpha1.SecretKeyReference{Name: "cx-db", Key: "dsn"}},
	}
	tp.Spec.Collector = &cxv1alpha1.CollectorSpec{Replicas: ptr.To[int32](3)}
	create(t, tp)

	c := waitReady(t, tp, metav1.ConditionFalse, cxv1alpha1.ReasonSecretNotFound)
	if !strings.Contains(c.Message, "spec.storage.postgres.dsnSecretRef") || !strings.Contains(c.Message, `"cx-db"`) {
		t.Errorf("message %q should name the field and the Secret", c.Message)
	}
	name := "relationship-nps-collector"
	if err := get(ns, name, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("no workload may be deployed before its Secret exists: %v", err)
	}

	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cx-db"}, StringData: map[string]string{"dsn": "postgres://cx@db/cx"}})
	dep := &appsv1.Deployment{}
	eventually(t, "deployment", func() error { return get(ns, name, dep) })
	if *dep.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", *dep.Spec.Replicas)
	}
	env0 := dep.Spec.Template.Spec.Containers[0].Env
	if len(env0) != 3 || env0[0].ValueFrom == nil || env0[0].ValueFrom.SecretKeyRef.Name != "cx-db" {
		t.Errorf("DSN must come from the Secret by reference: %+v", env0)
	}
	if len(env0) == 3 && (env0[1].Name != "CXLOOP_API_TOKEN" || env0[1].ValueFrom == nil || env0[1].ValueFrom.SecretKeyRef.Name != "relationship-nps-collector-api") {
		t.Errorf("the private API token must come from the touchpoint's API Secret: %+v", env0[1])
	}
	if len(env0) == 3 && (env0[2].Name != "CXLOOP_PROGRAM_API_TOKEN" || env0[2].ValueFrom == nil || env0[2].ValueFrom.SecretKeyRef.Name != "cxloop-program-api" ||
		env0[2].ValueFrom.SecretKeyRef.Optional == nil || !*env0[2].ValueFrom.SecretKeyRef.Optional) {
		t.Errorf("the program-wide token must come from the optional Secret cxloop-program-api: %+v", env0[2])
	}
	ports := dep.Spec.Template.Spec.Containers[0].Ports
	if len(ports) != 2 || ports[0].ContainerPort != 8080 || ports[1].Name != "api" || ports[1].ContainerPort != 8081 {
		t.Errorf("container ports = %+v, want the public 8080 and the private api 8081", ports)
	}
	eventually(t, "pdb", func() error { return get(ns, name, &policyv1.PodDisruptionBudget{}) })
	if err := get(ns, name, &appsv1.StatefulSet{}); !apierrors.IsNotFound(err) {
		t.Errorf("PostgreSQL store must not create a StatefulSet: %v", err)
	}
}
