package report

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// EventReport is the Event of report messages.
const EventReport = "Report"

// Message is a rendered report shaped for one channel type: what to say,
// which the caller hands to a notifier (Message has the same
// fields). The report package does not deliver.
type Message struct {
	// Key is the idempotency key: one per subscription and run.
	Key   string
	Event string
	Title string
	// Text is the plain-text body; HTML the email body, with Attachments
	// its inline charts.
	Text        string
	HTML        string
	Link        string
	Fields      []Field
	Attachments []Attachment
	// Data is the whole report, for webhooks.
	Data map[string]any
}

// Field is one headline number: "NPS", "42 (+3.0)".
type Field struct {
	Name  string
	Value string
}

// Attachment is an inline file of an email (a PNG chart), by Content-ID.
type Attachment struct {
	ContentID   string
	ContentType string
	Filename    string
	Data        []byte
}

// headline picks the numbers a reader wants first: the overall KPIs with
// their change, the responses and, with a Cases section, cases opened and
// overdue. It returns them as fields, as a short summary, and the line
// saying which period and touchpoints they cover.
func headline(r *Report, loc *time.Location) (fields []Field, summary, period string) {
	var kpiParts []string
	for _, s := range r.Sections {
		if s.KPIs == nil || len(s.KPIs.Rows) == 0 {
			continue
		}
		all := s.KPIs.Rows[0]
		for _, kpi := range kpiOrder {
			v := all.Value(kpi)
			if v == nil {
				continue
			}
			text := "no answers"
			if v.Current != nil {
				text = formatValue(kpi, v.Current.Value)
				if v.Delta != nil {
					change := formatDelta(kpi, *v.Delta)
					if v.Significant {
						change += ", significant"
					}
					text += " (" + change + ")"
				}
			}
			fields = append(fields, Field{Name: string(kpi), Value: text})
			kpiParts = append(kpiParts, string(kpi)+" "+text)
		}
		break
	}
	fields = append(fields, Field{Name: "Responses", Value: formatCount(r.Responses)})
	period = formatWindow(r.Window, loc) + ", " + plural(len(r.Touchpoints), "touchpoint")
	lines := []string{r.Title + " (" + period + ")"}
	if len(kpiParts) > 0 {
		lines = append(lines, strings.Join(kpiParts, " · "))
	}
	counts := formatCount(r.Responses) + " responses"
	for _, s := range r.Sections {
		if c := s.Cases; c != nil {
			fields = append(fields,
				Field{Name: "Cases opened", Value: strconv.Itoa(c.Opened)},
				Field{Name: "Cases overdue", Value: strconv.Itoa(c.Overdue)})
			counts += fmt.Sprintf(" · Cases: %d opened, %d overdue", c.Opened, c.Overdue)
		}
	}
	lines = append(lines, counts)
	return fields, strings.Join(lines, "\n"), period
}

// Message shapes the rendered report for one channel type:
//
//   - Email: the HTML with its charts as inline attachments, and the full
//     text as the alternative.
//   - Slack and Teams: a compact summary: the window in the text, the
//     headline numbers as fields, and the link.
//   - Webhook: the summary, the headline fields, and the whole report as
//     Data.
//
// key is the idempotency key (one per subscription and run); link, when
// set, points to the full report.
func (rd *Rendered) Message(channelType cxv1alpha1.ChannelType, key, link string) (Message, error) {
	msg := Message{
		Key:    key,
		Event:  EventReport,
		Title:  rd.Report.Title,
		Link:   link,
		Fields: rd.Headline,
		Text:   rd.Summary,
	}
	switch channelType {
	case cxv1alpha1.ChannelTypeEmail:
		// The text already has every number: no fields below it.
		msg.Text, msg.HTML, msg.Attachments, msg.Fields = rd.Text, rd.HTML, rd.Attachments, nil
	case cxv1alpha1.ChannelTypeSlack, cxv1alpha1.ChannelTypeTeams:
		// The fields show the numbers; the text says what they cover.
		msg.Text = rd.Period
	case cxv1alpha1.ChannelTypeWebhook:
		var data map[string]any
		if err := json.Unmarshal(rd.JSON, &data); err != nil {
			return Message{}, fmt.Errorf("report JSON for webhook: %w", err)
		}
		msg.Data = data
	}
	return msg, nil
}
