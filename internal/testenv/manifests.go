package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// SamplesDir is config/samples, the sample program.
var SamplesDir = filepath.Join(RepoRoot(), "config", "samples")

// Manifest is one file of config/samples: its documents, in order, and the
// "# key: value" lines of its leading comment.
type Manifest struct {
	Path   string
	Docs   []*unstructured.Unstructured
	Header map[string][]string
}

// headerKeys are the keys read from a manifest's leading comment.
var headerKeys = []string{"field", "expect", "expect-condition", "expect-message"}

func ReadManifest(t testing.TB, path string) Manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	m := Manifest{Path: path, Header: map[string][]string{}}
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		key, value, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ": ")
		if ok && slices.Contains(headerKeys, key) {
			m.Header[key] = append(m.Header[key], strings.TrimSpace(value))
		}
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: split YAML documents: %v", path, err)
		}
		js, err := utilyaml.ToJSON(doc)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
			continue
		}
		obj, _, err := unstructured.UnstructuredJSONScheme.Decode(js, nil, nil)
		if err != nil {
			t.Fatalf("%s: decode: %v", path, err)
		}
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			t.Fatalf("%s: a document is a %T, want one object", path, obj)
		}
		m.Docs = append(m.Docs, u)
	}
	if len(m.Docs) == 0 {
		t.Fatalf("%s holds no object", path)
	}
	return m
}

func YAMLFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

type ObjectKey struct {
	kind, name string
}

func KeyOf(u *unstructured.Unstructured) ObjectKey {
	return ObjectKey{u.GetObjectKind().GroupVersionKind().GroupKind().String(), u.GetName()}
}

// Apply creates obj in ns, or, when an object of the same kind and name was
// created before in this file, replaces it (an update, as a second
// `kubectl apply` would).
func (e *Env) Apply(ctx context.Context, ns string, obj *unstructured.Unstructured, seen map[ObjectKey]bool) error {
	obj = obj.DeepCopy()
	obj.SetNamespace(ns)
	if !seen[KeyOf(obj)] {
		if err := e.Client.Create(ctx, obj); err != nil {
			return err
		}
		seen[KeyOf(obj)] = true
		return nil
	}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(obj.GroupVersionKind())
	if err := e.Client.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return fmt.Errorf("get %s for update: %w", obj.GetName(), err)
	}
	obj.SetResourceVersion(live.GetResourceVersion())
	return e.Client.Update(ctx, obj)
}

// ApplyFile applies every document of a manifest in order and fails the test
// on the first error.
func (e *Env) ApplyFile(ctx context.Context, t testing.TB, ns string, m Manifest) {
	t.Helper()
	seen := map[ObjectKey]bool{}
	for _, doc := range m.Docs {
		if err := e.Apply(ctx, ns, doc, seen); err != nil {
			t.Errorf("%s: %s %q: %v", filepath.Base(m.Path), doc.GetKind(), doc.GetName(), err)
		}
	}
}

// ApplySamples applies the whole sample program, in kustomization order.
func (e *Env) ApplySamples(ctx context.Context, t testing.TB, ns string) {
	t.Helper()
	for _, res := range KustomizationResources(t) {
		e.ApplyFile(ctx, t, ns, ReadManifest(t, filepath.Join(SamplesDir, res)))
	}
}

func KustomizationResources(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(SamplesDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var k struct {
		Namespace string   `json:"namespace"`
		Resources []string `json:"resources"`
	}
	if err := utilyaml.NewYAMLOrJSONDecoder(f, 4096).Decode(&k); err != nil {
		t.Fatalf("decode kustomization.yaml: %v", err)
	}
	return k.Resources
}
