package validate

import (
	"fmt"
	"strings"
	"unicode"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// contactKeys are the normalized (NormalizeKey) attribute keys that hold a
// customer's contact details whatever the touchpoint says.
var contactKeys = map[string]bool{
	"email": true, "emailaddress": true, "mail": true, "mailaddress": true,
	"phone": true, "phonenumber": true, "telephone": true, "tel": true, "mobile": true, "mobilephone": true, "mobilenumber": true, "cell": true, "cellphone": true, "fax": true,
	"name": true, "firstname": true, "lastname": true, "fullname": true, "givenname": true, "familyname": true, "surname": true, "middlename": true, "displayname": true,
	"address": true, "streetaddress": true, "street": true, "homeaddress": true, "postaladdress": true, "mailingaddress": true,
}

// ContactDetailKeys are the built-in contact attribute keys, as written in
// documentation (matching is by NormalizeKey).
var ContactDetailKeys = []string{"email", "phone", "mobile", "name", "firstName", "lastName", "fullName", "address"}

// NormalizeKey folds an attribute key for matching contact keys: lower
// case, letters and digits only ("E-Mail", "e_mail" and "eMail" are all
// "email").
func NormalizeKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// IsContactKey reports whether attribute key k holds contact details: a
// built-in contact key or one of extra (a touchpoint's
// spec.retention.contactAttributes), compared case- and
// punctuation-insensitively.
func IsContactKey(k string, extra []string) bool {
	n := NormalizeKey(k)
	if contactKeys[n] {
		return true
	}
	for _, e := range extra {
		if NormalizeKey(e) == n {
			return true
		}
	}
	return false
}

// ExtraContactKeys are tp's additional contact attribute keys.
func ExtraContactKeys(tp *cxv1alpha1.SurveyTouchpoint) []string {
	if r := tp.Spec.Retention; r != nil {
		return r.ContactAttributes
	}
	return nil
}

// GroupByContact returns why groupBy may not be used ("" when it may):
// grouping by a contact attribute (customer.attributes.<key> or
// metadata.<key>) would turn each customer's contact details into a group
// key of aggregates and reports.
func GroupByContact(groupBy string, extra []string) string {
	for _, prefix := range []string{"customer.attributes.", "metadata."} {
		if k, ok := strings.CutPrefix(groupBy, prefix); ok && IsContactKey(k, extra) {
			return fmt.Sprintf("%q holds customers' contact details and cannot be a group: group by customer.tier, customer.segment or a non-personal attribute such as metadata.store", groupBy)
		}
	}
	return ""
}
