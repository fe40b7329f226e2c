package notify

import (
	"context"
	"errors"
)

// Message is one notification, rendered per channel type.
type Message struct {
	// Key is the idempotency key: a message with the same Key is delivered
	// at most once per channel, however often Deliver is retried.
	Key string
	// Event names what happened, for example "CaseOpened", "CaseOverdue",
	// "CaseEscalated", "CaseClosed", "RuleMatched", "RuleThrottled",
	// "Recognition", "AggregateFiring", "AggregateResolved" or "Report".
	Event string
	// Title is one line.
	Title string
	// Text is the plain-text body.
	Text string
	// HTML is an optional HTML body for email (reports); email falls back
	// to Text when it is empty.
	HTML string
	// Severity is optional: Urgent, High, Normal or Low.
	Severity string
	// Link is an optional URL to the object the message is about.
	Link string
	// Fields are the headline facts (customer, severity, due time, ...).
	Fields []Field
	// Attachments are inline images for email (referenced from HTML by
	// Content-ID); other channel types ignore them.
	Attachments []Attachment
	// Data is an optional structured payload for generic webhooks.
	Data map[string]any
	// To addresses the message to people ("Name <name@example.com>" or
	// bare addresses): an email channel sends it to them instead of its
	// spec.email.to; other channel types refuse it (a permanent error).
	// Give each person's message its own Key (the channel remembers
	// delivered Keys).
	To []string
}

// Field is one headline fact of a Message.
type Field struct {
	Name  string
	Value string
}

// Attachment is an inline file of an email.
type Attachment struct {
	ContentID   string
	ContentType string
	Filename    string
	Data        []byte
}

// Deliverer sends a message to a named NotificationChannel in a namespace.
type Deliverer interface {
	Deliver(ctx context.Context, namespace, channel string, msg Message) error
}

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that IsPermanent reports true.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err is a failure that retrying cannot fix
// (a rejected payload, a missing channel or Secret, a refused destination).
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
