package collector

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/go-logr/logr"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collectorclient"
	"github.com/cxloop/cxloop/internal/store"
)

// Grouping aggregates by a contact attribute (any case or punctuation, or
// one the touchpoint declares) is a 400 naming groupBy; many groups are
// capped, the answer says so and the totals stay exact.
func TestMetricsGroupByGuardAndCap(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		tp := feedbackTouchpoint("groups")
		tp.Spec.Retention = &cxv1alpha1.RetentionSpec{ContactAttributes: []string{"loyalty-no"}}
		ts := startServer(t, e, tp, Options{MaxGroups: 2})
		for i, s := range []string{"berlin", "paris", "paris", "rome", "rome", "rome"} {
			r := validResponse("r-" + s + string(rune('a'+i)))
			r["metadata"] = map[string]string{"store": s}
			ts.post(t, "/v1/responses", r).receipt(t)
		}
		for _, g := range []string{"customer.attributes.email", "customer.attributes.E-Mail", "customer.attributes.phoneNumber", "metadata.email", "customer.attributes.Loyalty_No"} {
			p := ts.get(t, "/v1/metrics?window=36500d&groupBy="+g).problem(t, http.StatusBadRequest)
			if len(p.Errors) != 1 || p.Errors[0].Field != "groupBy" {
				t.Errorf("groupBy=%s: %+v, want 400 naming groupBy", g, p)
			}
		}
		a := ts.get(t, "/v1/metrics?groupBy=metadata.store&from="+testNow.Add(-time.Hour).Format(time.RFC3339)+"&to="+testNow.Add(time.Hour).Format(time.RFC3339))
		var res store.AggregateResult
		if err := json.Unmarshal(a.Body, &res); err != nil || a.Status != http.StatusOK {
			t.Fatalf("%d %s (%v)", a.Status, a.Body, err)
		}
		if !res.Capped || res.OtherGroups != 1 || len(res.Groups) != 2 || res.Groups["rome"].Responses != 3 || res.Total().Responses != 6 {
			t.Errorf("capped answer %+v, want rome and paris, berlin in other, 6 responses in all", res)
		}
	})
}

// Retention erases contact attributes whatever their case and punctuation,
// and those the touchpoint declares; Cases never get them.
func TestContactDetailsMatchedLoosely(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		tp := feedbackTouchpoint("loose")
		tp.Spec.Retention = &cxv1alpha1.RetentionSpec{ContactDetails: &cxv1alpha1.Duration{Duration: 24 * time.Hour}, ContactAttributes: []string{"whatsapp"}}
		ts := startServer(t, e, tp, Options{})
		attrs := map[string]any{"Email": "a@example.com", "e-mail": "b@example.com", "phoneNumber": "+49 1", "WhatsApp": "+49 2", "plan": "pro"}
		body := validResponse("r-1")
		body["customer"] = map[string]any{"id": "C-1", "attributes": attrs}
		body["submittedAt"] = testNow.Add(-48 * time.Hour).Format(time.RFC3339)
		ts.post(t, "/v1/responses", body).receipt(t)
		ts.applyRetention(context.Background(), ts.Store, logr.Discard())
		got, err := ts.Store.GetResponse(context.Background(), "loose", "r-1")
		if err != nil || len(got.Customer.Attributes) != 1 || got.Customer.Attributes["plan"] != "pro" {
			t.Errorf("attributes after retention %v (%v), want only plan", got.Customer.Attributes, err)
		}
	})
	if got := withoutContactDetails(map[string]string{"E-Mail": "x", "Phone_Number": "y", "tier": "gold"}, nil); len(got) != 1 || got["tier"] != "gold" {
		t.Errorf("case attributes %v, want only tier", got)
	}
}

// The archive of closed Cases is purged after the touchpoint's
// retention.archive.
func TestArchivePurgedAfterRetention(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		tp := feedbackTouchpoint("archive")
		tp.Spec.Retention = &cxv1alpha1.RetentionSpec{Archive: &cxv1alpha1.Duration{Duration: 30 * 24 * time.Hour}}
		ts := startServer(t, e, tp, Options{})
		c := collectorclient.New(nil)
		ctx := context.Background()
		for name, closed := range map[string]time.Time{"old": testNow.Add(-31 * 24 * time.Hour), "recent": testNow.Add(-29 * 24 * time.Hour)} {
			if err := c.ArchiveCase(ctx, ts.target(), name, closed, []byte(`{"kind":"Case"}`)); err != nil {
				t.Fatal(err)
			}
		}
		ts.applyRetention(ctx, ts.Store, logr.Discard())
		if _, err := c.ArchivedCase(ctx, ts.target(), "old"); !collectorclient.IsClientError(err) {
			t.Errorf("Case closed 31 days ago: %v, want purged (404)", err)
		}
		if _, err := c.ArchivedCase(ctx, ts.target(), "recent"); err != nil {
			t.Errorf("Case closed 29 days ago: %v, want kept", err)
		}
	})
}
