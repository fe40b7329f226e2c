// Package notify delivers notifications through NotificationChannels:
// email over SMTP, Slack and Microsoft Teams incoming webhooks, signed
// generic webhooks, and the email or SMS a customer is sent. It owns the Message a planner builds (internal/cases,
// internal/alerting), the guard that keeps deliveries off private
// addresses unless a channel allows them, the retries of transient
// failures, per-channel rate limits and an in-memory idempotency by message key per channel, and
// when a channel counts as failing (Health, for its Ready condition); the
// durable record of what is due and what was delivered is the status of
// the object that owes it, not this package.
package notify
