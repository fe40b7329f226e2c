package validate

import (
	"testing"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

func TestIsContactKey(t *testing.T) {
	for k, want := range map[string]bool{
		"email": true, "Email": true, "e-mail": true, "E_Mail": true, "phoneNumber": true, "phone_number": true,
		"First Name": true, "lastname": true, "Address": true, "plan": false, "region": false, "company": false,
	} {
		if got := IsContactKey(k, nil); got != want {
			t.Errorf("IsContactKey(%q) = %v, want %v", k, got, want)
		}
	}
	if !IsContactKey("WhatsApp-ID", []string{"whatsapp_id"}) {
		t.Error("a touchpoint's extra contact key does not match across case and punctuation")
	}
}

func TestGroupByContact(t *testing.T) {
	for groupBy, refused := range map[string]bool{
		"customer.attributes.email": true, "customer.attributes.E-Mail": true, "metadata.phone": true,
		"customer.tier": false, "metadata.store": false, "customer.attributes.plan": false,
	} {
		if got := GroupByContact(groupBy, nil) != ""; got != refused {
			t.Errorf("GroupByContact(%q) refused = %v, want %v", groupBy, got, refused)
		}
	}
}

// AlertRules and ReportSubscriptions that group by a contact attribute are
// refused at apply time, naming the field; a touchpoint's own contact
// attributes count for the rules that select it.
func TestGroupByContactRefusedAtApply(t *testing.T) {
	nps := relationshipNPS()
	rule := aggregateRule(cxv1alpha1.AggregateNPS, "", "value < 30.0", nps.Name)
	rule.Spec.Aggregate.GroupBy = "customer.attributes.Email"
	if ps := AlertRule(rule, []cxv1alpha1.SurveyTouchpoint{nps}); !hasField(ps, "spec.aggregate.groupBy") {
		t.Errorf("rule grouped by email: %s, want a problem at spec.aggregate.groupBy", ps)
	}
	rule.Spec.Aggregate.GroupBy = "customer.attributes.loyalty_no"
	if ps := AlertRule(rule, []cxv1alpha1.SurveyTouchpoint{nps}); hasField(ps, "spec.aggregate.groupBy") {
		t.Errorf("rule grouped by an ordinary attribute: %s", ps)
	}
	nps.Spec.Retention = &cxv1alpha1.RetentionSpec{ContactAttributes: []string{"Loyalty-No"}}
	if ps := AlertRule(rule, []cxv1alpha1.SurveyTouchpoint{nps}); !hasField(ps, "spec.aggregate.groupBy") {
		t.Errorf("rule grouped by the touchpoint's contact attribute: %s, want a problem", ps)
	}

	r := report()
	r.Spec.Segments = &cxv1alpha1.SegmentsSpec{GroupBy: "customer.attributes.phone_number"}
	if ps := ReportSubscription(r); !hasField(ps, "spec.segments.groupBy") {
		t.Errorf("report segmented by phone: %s, want a problem at spec.segments.groupBy", ps)
	}
}

func hasField(ps Problems, field string) bool {
	for _, p := range ps {
		if p.Field == field {
			return true
		}
	}
	return false
}
