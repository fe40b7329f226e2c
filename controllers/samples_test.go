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
	"github.com/cxloop/cxloop/internal/manifest"
	"github.com/cxloop/cxloop/internal/programcheck"
	"github.com/cxloop/cxloop/internal/testenv"
	"github.com/cxloop/cxloop/internal/validate"
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
// written in the file's header, and `cxloop validate` of the samples with
// that manifest reports, offline, exactly the controller's message.
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
			if offline := offlineMessage(t, ns, path, last); offline != c.Message {
				t.Errorf("cxloop validate says\n  %q\nthe controller says\n  %q", offline, c.Message)
			}
		})
	}
}

// offlineMessage is what `cxloop validate -f config/samples -f path` reports
// about obj, as the lines of a Ready condition.
func offlineMessage(t *testing.T, ns, path string, obj *unstructured.Unstructured) string {
	t.Helper()
	docs, err := manifest.Load([]string{testenv.SamplesDir, path}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := programcheck.Check(context.Background(), docs, programcheck.Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range res.Findings {
		if f.Kind == obj.GetKind() && f.Name == obj.GetName() {
			if f.Source != programcheck.SourceProgram {
				t.Errorf("offline: the API server would refuse it: %s", f)
			}
			lines = append(lines, validate.Problem{Field: f.Field, Message: f.Message}.String())
		}
	}
	return strings.Join(lines, "\n")
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
