package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

// A touchpoint's collector gets an API token Secret, owned by the
// touchpoint; the archiver uses it to keep a closed Case in the collector's
// store, and the archive refuses anyone without it.
func TestClosedCaseIsArchivedThroughTheCollectorAPI(t *testing.T) {
	ctx := context.Background()
	ns := env.Namespace(t)
	tp := touchpoint(ns, "upgrade-install", nil)
	create(t, tp)

	secret := &corev1.Secret{}
	eventually(t, "collector API secret", func() error { return get(ns, "upgrade-install-collector-api", secret) })
	if !ownedBy(secret, tp) || len(secret.Data[CollectorAPITokenKey]) < 32 {
		t.Fatalf("secret owners %v, token length %d: want owned by the touchpoint, a long random token", secret.OwnerReferences, len(secret.Data[CollectorAPITokenKey]))
	}
	token := string(secret.Data[CollectorAPITokenKey])

	// The collector of the touchpoint, with the token its pod would get.
	ts := serveCollector(t, tp, collector.Options{APIToken: []byte(token)})

	closed := metav1.NewTime(time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC))
	c := &cxv1alpha1.Case{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "install-failure-c100"},
		Spec: cxv1alpha1.CaseSpec{Template: "installation-support", Customer: &cxv1alpha1.Customer{ID: "C-100"},
			Source: &cxv1alpha1.CaseSource{Touchpoint: "upgrade-install", ResponseID: "r-1"}},
		Status: cxv1alpha1.CaseStatus{ClosedAt: &closed},
	}
	archiver := &CollectorArchiver{Client: env.Client, APIReader: env.Client, Endpoint: func(*cxv1alpha1.SurveyTouchpoint) string { return ts.URL }}
	if err := archiver.ArchiveCase(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := collectorclient.New(nil).ArchivedCase(ctx, collectorclient.Target{Endpoint: ts.URL, Token: token}, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	var doc cxv1alpha1.Case
	if err := json.Unmarshal(got.Case, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != "Case" || doc.Spec.Customer.ID != "C-100" || !got.ClosedAt.Equal(closed.Time) || got.Namespace != ns {
		t.Errorf("archived = %+v (case %+v), want the whole Case with its closing time", got, doc.Spec)
	}

	// Without the token, or with another, the archive stays shut.
	_, err = collectorclient.New(nil).ArchivedCase(ctx, collectorclient.Target{Endpoint: ts.URL, Token: "not-the-token"}, c.Name)
	var apiErr *collectorclient.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Errorf("wrong token: %v, want 401", err)
	}
}
