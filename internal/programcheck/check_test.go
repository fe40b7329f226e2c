package programcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cxloop/cxloop/internal/manifest"
	"github.com/cxloop/cxloop/internal/testenv"
)

// env is a real etcd + kube-apiserver with the CRDs: what validate must
// agree with.
var env *testenv.Env

func TestMain(m *testing.M) { testenv.Main(m, &env, "./internal/programcheck/...") }

var invalidDir = filepath.Join(testenv.SamplesDir, "invalid")

func load(t *testing.T, paths ...string) []manifest.Document {
	t.Helper()
	docs, err := manifest.Load(paths, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

// cause is one (field, message) of an API server's refusal.
type cause struct{ field, message string }

func (c cause) String() string { return c.field + ": " + c.message }

var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// serverCauses are the causes of err as the API server answered them: the
// causes of a 422, or the unknown fields of a strict decoding 400.
func serverCauses(t *testing.T, err error) []cause {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("not an API status: %v", err)
	}
	st := status.Status()
	var out []cause
	if apierrors.IsBadRequest(err) {
		for _, m := range unknownField.FindAllStringSubmatch(st.Message, -1) {
			out = append(out, cause{m[1], fmt.Sprintf("unknown field %q", m[1])})
		}
	} else if st.Details != nil {
		for _, c := range st.Details.Causes {
			field := c.Field
			if field == "<nil>" {
				field = ""
			}
			out = append(out, cause{field, c.Message})
		}
	}
	if len(out) == 0 {
		t.Fatalf("refusal without causes: %v", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Every manifest of config/samples/invalid is refused offline with exactly
// the fields and messages the real API server answers: validate runs the
// server's own validation, so a GitOps pipeline sees what kubectl apply
// would print. Earlier documents of a file set up an update; they are
// accepted by both.
func TestInvalidManifestsAsTheAPIServer(t *testing.T) {
	ctx := context.Background()
	files := testenv.YAMLFiles(t, invalidDir)
	if len(files) < 30 {
		t.Fatalf("want the ~30 manifests of %s, found %d", invalidDir, len(files))
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			ns := env.Namespace(t)
			m := testenv.ReadManifest(t, path)
			seen := map[testenv.ObjectKey]bool{}
			var serverErr error
			for i, doc := range m.Docs {
				err := env.Apply(ctx, ns, doc, seen)
				if i < len(m.Docs)-1 && err != nil {
					t.Fatalf("setup document %s %q refused by the API server: %v", doc.GetKind(), doc.GetName(), err)
				}
				serverErr = err
			}
			if serverErr == nil {
				t.Fatal("the API server accepted the last document")
			}
			want := serverCauses(t, serverErr)

			res, err := Check(ctx, load(t, path), Options{Namespace: ns})
			if err != nil {
				t.Fatal(err)
			}
			var got []cause
			for _, f := range res.Findings {
				if f.Source == SourceSchema {
					got = append(got, cause{f.Field, f.Message})
				}
			}
			sort.Slice(got, func(i, j int) bool { return got[i].String() < got[j].String() })
			if !slices.Equal(got, want) {
				t.Errorf("validate:\n  %s\nAPI server:\n  %s", joinCauses(got), joinCauses(want))
			}
			last := m.Docs[len(m.Docs)-1]
			for _, f := range res.Findings {
				if f.Source == SourceSchema && (f.Kind != last.GetKind() || f.Name != last.GetName()) {
					t.Errorf("finding on %s/%s, want only on the last document %s/%s: %s", f.Kind, f.Name, last.GetKind(), last.GetName(), f)
				}
			}
		})
	}
}

func joinCauses(cs []cause) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, "\n  ")
}

// The sample program is valid, through its kustomization and as a plain
// folder.
func TestSamplesValid(t *testing.T) {
	samples := 0
	for _, d := range load(t, testenv.SamplesDir) {
		if d.Object.GroupVersionKind().Group == "cx.cxloop.io" {
			samples++
		}
	}
	if samples < 17 {
		t.Fatalf("config/samples holds %d cxloop objects, want the whole program", samples)
	}
	// A folder of manifests may hold `cxloop test` files: they are skipped.
	for _, args := range [][]string{{"-f", testenv.SamplesDir}, {"-f", filepath.Join(testenv.SamplesDir, "kustomization.yaml")},
		{"-f", filepath.Join(testenv.SamplesDir, "tests"), "-f", testenv.SamplesDir}} {
		var out, errOut bytes.Buffer
		if err := Command(context.Background(), args, nil, &out, &errOut); err != nil {
			t.Fatalf("validate %v: %v\n%s%s", args, err, out.String(), errOut.String())
		}
		if want := fmt.Sprintf("%d cxloop object(s) valid", samples); out.Len() != 0 || !strings.Contains(errOut.String(), want) {
			t.Errorf("validate %v: stdout %q, stderr %q", args, out.String(), errOut.String())
		}
	}
}

// The output formats name the file, line, object, field and message.
func TestOutputFormats(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rule.yaml")
	write(t, path, `apiVersion: cx.cxloop.io/v1alpha1
kind: AlertRule
metadata:
  name: no-action
spec:
  touchpoints:
    names: [upgrade-install]
  condition: answers.completed == false
  actions: {}
---
apiVersion: cx.cxloop.io/v1alpha1
kind: AlertRule
metadata:
  name: missing-touchpoint
spec:
  touchpoints:
    names: [upgrade-install]
  condition: answers.completed == false
  actions:
    notify: [{channel: support}]
`)
	for _, tc := range []struct {
		format string
		want   []string
	}{
		{FormatText, []string{path + `:9: AlertRule/no-action: spec.actions: Invalid value: actions must notify at least one channel`,
			path + `:17: AlertRule/missing-touchpoint: spec.touchpoints.names[0]: SurveyTouchpoint "upgrade-install" not found (there are none); create it or fix the name`,
			path + `:20: AlertRule/missing-touchpoint: spec.actions.notify[0].channel: NotificationChannel "support" not found (there are none); create it or fix the name`}},
		{FormatJSON, []string{`"file": "` + path + `"`, `"line": 9`, `"kind": "AlertRule"`, `"field": "spec.actions"`, `"source": "schema"`, `"source": "program"`, `"reason": "ReferenceNotFound"`}},
		{FormatGitHub, []string{"::error file=" + path + ",line=9,title=AlertRule/no-action::spec.actions: Invalid value: actions must"}},
	} {
		var out, errOut bytes.Buffer
		err := Command(context.Background(), []string{"-o", tc.format, "-f", path}, nil, &out, &errOut)
		if !errors.Is(err, ErrProblems) {
			t.Fatalf("-o %s: err = %v, want ErrProblems", tc.format, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("-o %s: output lacks %q:\n%s", tc.format, w, out.String())
			}
		}
	}
}

// A change to a program that breaks a reference is caught with the line
// of the reference, from stdin as from a file.
func TestStdinAndUpdates(t *testing.T) {
	in := `apiVersion: cx.cxloop.io/v1alpha1
kind: Case
metadata:
  name: c1
spec:
  template: t
  title: x
  state: Open
---
apiVersion: cx.cxloop.io/v1alpha1
kind: Case
metadata:
  name: c1
spec:
  template: t
  title: x
  state: Closed
`
	var out, errOut bytes.Buffer
	err := Command(context.Background(), []string{"-f", "-"}, strings.NewReader(in), &out, &errOut)
	if !errors.Is(err, ErrProblems) {
		t.Fatalf("err = %v", err)
	}
	for _, w := range []string{
		"<stdin>:17: Case/c1: spec.state: Forbidden: state cannot move from Open to Closed",
		"<stdin>:6: Case/c1: spec.template: CaseTemplate \"t\" not found",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}
