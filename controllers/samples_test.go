package controllers

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/testenv"
)

// The sample program applied with kubectl becomes valid everywhere: every
// rule compiles against its touchpoints, every template, report, case and
// channel is Ready. (Touchpoints are left out: no collector pod runs in
// envtest.)
func TestSampleProgramIsReady(t *testing.T) {
	ns := env.Namespace(t)
	env.ApplySamples(context.Background(), t, ns)
	lists := []client.ObjectList{&cxv1alpha1.AlertRuleList{}, &cxv1alpha1.CaseTemplateList{}, &cxv1alpha1.CaseList{}, &cxv1alpha1.ReportSubscriptionList{}, &cxv1alpha1.NotificationChannelList{}}
	for _, list := range lists {
		if err := env.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		items, _ := apimeta.ExtractList(list)
		if len(items) == 0 {
			t.Errorf("the samples hold no %T", list)
		}
		for _, it := range items {
			obj, ok := it.(statusObject)
			if !ok {
				t.Fatalf("%T has no conditions", it)
			}
			waitReady(t, obj, metav1.ConditionTrue, cxv1alpha1.ReasonSucceeded)
		}
	}
}

// Each manifest in config/samples/invalid/controller is accepted by the API
// server and then reported by its controller with the reason and message
// written in the file's header.
func TestControllerCheckedManifestsReported(t *testing.T) {
	dir := filepath.Join(testenv.SamplesDir, "invalid", "controller")
	files := testenv.YAMLFiles(t, dir)
	if len(files) == 0 {
		t.Fatalf("no manifests in %s", dir)
	}
	ns := env.Namespace(t)
	env.ApplySamples(context.Background(), t, ns)
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			m := testenv.ReadManifest(t, path)
			env.ApplyFile(context.Background(), t, ns, m)
			var reason string
			if _, err := fmt.Sscanf(strings.Join(m.Header["expect-condition"], ""), "Ready=False reason=%s", &reason); err != nil {
				t.Fatalf("%s: expect-condition header: %v", path, err)
			}
			last := m.Docs[len(m.Docs)-1]
			obj, err := typedObject(last, ns)
			if err != nil {
				t.Fatal(err)
			}
			c := waitReady(t, obj, metav1.ConditionFalse, reason)
			for _, want := range m.Header["expect-message"] {
				if !strings.Contains(c.Message, want) {
					t.Errorf("message %q does not contain %q", c.Message, want)
				}
			}
		})
	}
}

// typedObject returns an empty typed object to read u into.
func typedObject(u *unstructured.Unstructured, ns string) (statusObject, error) {
	o, err := env.Scheme.New(u.GroupVersionKind())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u.GetKind(), err)
	}
	obj, ok := o.(statusObject)
	if !ok {
		return nil, fmt.Errorf("%s has no conditions", u.GetKind())
	}
	obj.SetNamespace(ns)
	obj.SetName(u.GetName())
	return obj, nil
}
