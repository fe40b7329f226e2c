// Package survey renders the hosted survey page customers answer: the
// questions of a touchpoint in the customer's language as a plain HTML form
// that works without JavaScript, and turns the submitted form back into the
// answers of a response, which the collector validates exactly as it
// validates the API's.
//
// The package is pure: it knows the touchpoint's spec and HTTP forms, not
// tokens, stores or the collector.
package survey
