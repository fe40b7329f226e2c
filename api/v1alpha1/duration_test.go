package v1alpha1_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	cxv1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"24h": 24 * time.Hour, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute, "7d": 7 * 24 * time.Hour,
		"2w": 14 * 24 * time.Hour, "1d12h": 36 * time.Hour, "1.5d": 36 * time.Hour, "0": 0, "-1d": -24 * time.Hour,
		"500ms": 500 * time.Millisecond,
	} {
		got, err := cxv1.ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "d", "7x", "7d3", "1y", "7 d"} {
		if _, err := cxv1.ParseDuration(in); err == nil || !strings.Contains(err.Error(), "write it as 90m, 24h, 7d or 2w") {
			t.Errorf("ParseDuration(%q) err = %v, want one naming the accepted forms", in, err)
		}
	}
	var d cxv1.Duration
	if err := json.Unmarshal([]byte(`"7d"`), &d); err != nil || d.Duration != 7*24*time.Hour {
		t.Errorf("unmarshal 7d = %v, %v", d, err)
	}
	if b, _ := json.Marshal(d); string(b) != `"168h0m0s"` {
		t.Errorf("marshal = %s", b)
	}
}

// Days and weeks are accepted wherever the API asks for a duration, read
// back by the Go types; a malformed duration gets one message, the
// pattern's, and no CEL error about google.protobuf.Duration.
func TestDurationsInDays(t *testing.T) {
	ns := env.Namespace(t)
	var tmpl cxv1.CaseTemplate
	createYAML(t, ns, `
apiVersion: cx.cxloop.io/v1alpha1
kind: CaseTemplate
metadata: {name: days}
spec:
  category: installation
  team: {caseManagers: [{name: maria, email: maria@acme.example}]}
  defaultPolicy: {severity: Normal, closureGoal: 7d, firstResponseGoal: 1d12h}
  closure: {rootCauses: [installer-defect]}
  escalation: [{name: late, after: 2w, raiseSeverityTo: High}]
  retention: 4w
`, &tmpl)
	check(t, "closureGoal", tmpl.Spec.DefaultPolicy.ClosureGoal, dur(7*24*time.Hour))
	check(t, "firstResponseGoal", deref(tmpl.Spec.DefaultPolicy.FirstResponseGoal), dur(36*time.Hour))
	check(t, "escalation[0].after", tmpl.Spec.Escalation[0].After, dur(14*24*time.Hour))
	check(t, "retention", deref(tmpl.Spec.Retention), dur(28*24*time.Hour))

	var rule cxv1.AlertRule
	createYAML(t, ns, `
apiVersion: cx.cxloop.io/v1alpha1
kind: AlertRule
metadata: {name: weekly-nps}
spec:
  touchpoints: {names: [relationship-nps]}
  aggregate: {metric: NPS, window: 7d, every: 1d, condition: value < 30.0}
  actions: {notify: [{channel: support}]}
`, &rule)
	check(t, "aggregate.window", rule.Spec.Aggregate.Window, dur(7*24*time.Hour))
	check(t, "aggregate.every", deref(rule.Spec.Aggregate.Every), dur(24*time.Hour))

	for value, want := range map[string]string{
		"7x":   `spec.defaultPolicy.closureGoal: Invalid value: "7x": spec.defaultPolicy.closureGoal in body should match`,
		"0d":   `spec.defaultPolicy.closureGoal: Invalid value: "0d": closureGoal must be a positive duration such as 24h`,
		"-7d":  `spec.defaultPolicy.closureGoal: Invalid value: "-7d": closureGoal must be a positive duration such as 24h`,
		"0.0s": `closureGoal must be a positive duration such as 24h`,
	} {
		bad := tmpl.DeepCopy()
		bad.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "bad-" + strings.NewReplacer(".", "", "-", "m").Replace(strings.ToLower(value))}
		raw := map[string]any{}
		b, _ := json.Marshal(bad)
		_ = json.Unmarshal(b, &raw)
		if err := unstructured.SetNestedField(raw, value, "spec", "defaultPolicy", "closureGoal"); err != nil {
			t.Fatal(err)
		}
		u := unstructuredFrom(raw)
		u.SetAPIVersion(cxv1.GroupVersion.String())
		u.SetKind("CaseTemplate")
		err := env.Client.Create(context.Background(), u)
		if !apierrors.IsInvalid(err) {
			t.Fatalf("closureGoal %q: err = %v, want Invalid", value, err)
		}
		if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "protobuf") {
			t.Errorf("closureGoal %q: %v\nwant it to contain %q and no protobuf", value, err, want)
		}
		if n := strings.Count(err.Error(), "closureGoal"); value == "7x" && n != 2 { // field + pattern, once
			t.Errorf("closureGoal %q: want one message, got %v", value, err)
		}
	}
}

// kubectl's default columns for Cases show the title and customer, and Due
// as the deadline itself: a date column would render a future deadline as
// "<invalid>".
func TestCaseColumns(t *testing.T) {
	ns := env.Namespace(t)
	c := &cxv1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "installation-support-4f1c2a9b0d3e"},
		Spec: cxv1.CaseSpec{
			Template: "installation-support", Title: "Could not complete the upgrade installation",
			Customer: &cxv1.Customer{ID: "CUST-004217", Tier: "Gold"}, State: cxv1.CaseOpen,
		},
	}
	ctx := context.Background()
	if err := env.Client.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	due := metav1.NewTime(time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second))
	c.Status.DueAt = &due
	if err := env.Client.Status().Update(ctx, c); err != nil {
		t.Fatal(err)
	}

	table := getTable(t, "/apis/cx.cxloop.io/v1alpha1/namespaces/"+ns+"/cases/"+c.Name)
	cells := map[string]any{}
	for i, col := range table.ColumnDefinitions {
		if col.Priority == 0 {
			cells[col.Name] = table.Rows[0].Cells[i]
		}
	}
	for col, want := range map[string]any{
		"Title": c.Spec.Title, "Customer": "CUST-004217", "Due": due.Format(time.RFC3339),
	} {
		if cells[col] != want {
			t.Errorf("default column %s = %v, want %v (columns %v)", col, cells[col], want, cells)
		}
	}
}

// getTable GETs path as kubectl get does: the server-side table.
func getTable(t *testing.T, path string) *metav1.Table {
	t.Helper()
	hc, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(env.Config.Host, "/")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var table metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&table); err != nil || resp.StatusCode != http.StatusOK || len(table.Rows) != 1 {
		t.Fatalf("GET %s as Table: %s, %v, %d rows", path, resp.Status, err, len(table.Rows))
	}
	return &table
}

func unstructuredFrom(m map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: m}
}
