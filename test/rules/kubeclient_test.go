package rules_test

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/kubeapi"
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

// With --kube-api-qps, the collector's requests share one token bucket:
// once reads have spent it, a Case create waits for it too, instead of
// spending a bucket of its own (which let the collector send twice the
// rate it was given).
func TestCollectorClientSharesOneRateLimit(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	cfg := rest.CopyConfig(env.Config)
	// One request every 1,000 s after a burst of 3: the bucket, once
	// empty, stays empty for the test.
	if err := kubeapi.Limit(cfg, 0.001, 3); err != nil {
		t.Fatal(err)
	}
	kc, err := collector.NewKubeClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Spend the bucket on reads (discovery of the mapping counts too).
	// A wait the deadline cannot cover is refused at once.
	spent := false
	for range 10 {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := kc.List(rctx, &cxv1alpha1.CaseList{}, client.InNamespace(ns))
		cancel()
		if err != nil {
			if !strings.Contains(err.Error(), "rate limiter") {
				t.Fatalf("list: %v", err)
			}
			spent = true
			break
		}
	}
	if !spent {
		t.Fatal("10 reads passed a limit with a burst of 3")
	}
	labels := map[string]string{cxv1alpha1.LabelRule: "installation-failed", cxv1alpha1.LabelTemplate: "installation-support"}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = kc.Create(cctx, benchCase(ns, "installation-support-1", labels, 1))
	if err == nil || !strings.Contains(err.Error(), "rate limiter") {
		t.Fatalf("create after the reads spent the limit: %v, want the rate limiter's refusal", err)
	}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "installation-support-1"}, &cxv1alpha1.Case{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Case past the limit: %v, want not found", err)
	}
}
