// Package notifymsg hands a rendered report's message to the notifier:
// report.Message is what a report says to one channel type, notify.Message
// what a NotificationChannel delivers. It sits apart from both because
// neither may import the other: the report package does not deliver, and
// the notify package, which report depends on through internal/validate,
// knows no reports.
package notifymsg

import (
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/report"
)

// From is the notifier's message for a report's: every field carried
// over, a report's message having no severity and no personal recipients.
func From(m report.Message) notify.Message {
	out := notify.Message{Key: m.Key, Event: m.Event, Title: m.Title, Text: m.Text, HTML: m.HTML, Link: m.Link, Data: m.Data}
	for _, f := range m.Fields {
		out.Fields = append(out.Fields, notify.Field{Name: f.Name, Value: f.Value})
	}
	for _, a := range m.Attachments {
		out.Attachments = append(out.Attachments, notify.Attachment{ContentID: a.ContentID, ContentType: a.ContentType, Filename: a.Filename, Data: a.Data})
	}
	return out
}
