package rules_test

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
)

// The collector's client creates a Case without decoding the API server's
// copy: the Case exists as sent, and a refused create still says why
// (already exists, invalid), which the dispatcher's retries and drops
// depend on.
func TestCollectorClientCreatesCasesWithoutReadingThemBack(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	kc, err := collector.NewKubeClient(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{cxv1alpha1.LabelRule: "installation-failed", cxv1alpha1.LabelTemplate: "installation-support"}
	sent := benchCase(ns, "installation-support-1", labels, 1)
	if err := kc.Create(ctx, sent.DeepCopy()); err != nil {
		t.Fatalf("create: %v", err)
	}
	got := &cxv1alpha1.Case{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(sent), got); err != nil {
		t.Fatalf("the Case created is not there: %v", err)
	}
	if got.Spec.Title != sent.Spec.Title || got.Spec.Source.ResponseID != sent.Spec.Source.ResponseID ||
		got.Spec.Customer.ID != sent.Spec.Customer.ID || got.Labels[cxv1alpha1.LabelRule] != "installation-failed" ||
		string(got.Spec.Source.Response.Answers["completed"].Raw) != "false" {
		t.Errorf("stored Case = %+v, want the one sent: %+v", got, sent)
	}
	if err := kc.Create(ctx, sent.DeepCopy()); !apierrors.IsAlreadyExists(err) {
		t.Errorf("create again: %v, want already exists", err)
	}
	bad := benchCase(ns, "Not_A_Name", labels, 2)
	if err := kc.Create(ctx, bad); !apierrors.IsInvalid(err) {
		t.Errorf("create a Case with an invalid name: %v, want invalid", err)
	}
	// Reads and other writes go through controller-runtime's client.
	if err := kc.Get(ctx, client.ObjectKeyFromObject(sent), &cxv1alpha1.Case{}); err != nil {
		t.Errorf("get: %v", err)
	}
}
