package notifymsg

import (
	"reflect"
	"testing"

	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/report"
)

func TestFrom(t *testing.T) {
	m := report.Message{
		Key: "report/uid/2026-05-04T08:00:00Z", Event: "Report", Title: "Weekly CX: NPS 42 (+3.0)",
		Text: "NPS 42", HTML: "<p>NPS 42</p>", Link: "https://cx.example.com/namespaces/acme/reports/weekly",
		Fields:      []report.Field{{Name: "NPS", Value: "42 (+3.0)"}, {Name: "Responses", Value: "1,204"}},
		Attachments: []report.Attachment{{ContentID: "trend-nps", ContentType: "image/png", Filename: "nps.png", Data: []byte{0x89, 'P', 'N', 'G'}}},
		Data:        map[string]any{"kpis": []any{"nps"}},
	}
	want := notify.Message{
		Key: m.Key, Event: m.Event, Title: m.Title, Text: m.Text, HTML: m.HTML, Link: m.Link,
		Fields:      []notify.Field{{Name: "NPS", Value: "42 (+3.0)"}, {Name: "Responses", Value: "1,204"}},
		Attachments: []notify.Attachment{{ContentID: "trend-nps", ContentType: "image/png", Filename: "nps.png", Data: []byte{0x89, 'P', 'N', 'G'}}},
		Data:        m.Data,
	}
	if got := From(m); !reflect.DeepEqual(got, want) {
		t.Errorf("From = %+v\nwant %+v", got, want)
	}
	if got := From(report.Message{Key: "k"}); got.Fields != nil || got.Attachments != nil {
		t.Errorf("a message without fields or attachments got %+v", got)
	}
}

// Every field of a report's message has a field of the same name in the
// notifier's, so a field added to report.Message and not carried over
// fails here rather than going missing in deliveries.
func TestEveryFieldIsCarried(t *testing.T) {
	for _, pair := range [][2]reflect.Type{
		{reflect.TypeFor[report.Message](), reflect.TypeFor[notify.Message]()},
		{reflect.TypeFor[report.Field](), reflect.TypeFor[notify.Field]()},
		{reflect.TypeFor[report.Attachment](), reflect.TypeFor[notify.Attachment]()},
	} {
		from, to := pair[0], pair[1]
		for i := range from.NumField() {
			name := from.Field(i).Name
			if _, ok := to.FieldByName(name); !ok {
				t.Errorf("%s.%s has no counterpart in %s", from, name, to)
			}
		}
	}
	// And From fills each: a message with every field set comes out
	// with every counterpart set.
	full := report.Message{Key: "k", Event: "e", Title: "t", Text: "x", HTML: "h", Link: "l",
		Fields: []report.Field{{Name: "n", Value: "v"}}, Attachments: []report.Attachment{{ContentID: "c", ContentType: "ct", Filename: "f", Data: []byte{1}}},
		Data: map[string]any{"a": 1}}
	got := reflect.ValueOf(From(full))
	src := reflect.ValueOf(full)
	for i := range src.NumField() {
		name := src.Type().Field(i).Name
		if got.FieldByName(name).IsZero() {
			t.Errorf("From leaves %s empty", name)
		}
	}
}
