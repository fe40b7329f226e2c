package notify

import (
	"fmt"
	"strings"
)

// Slack Block Kit limits.
const (
	slackHeaderMax       = 150
	slackSectionMax      = 3000
	slackFieldMax        = 2000
	slackFieldsPerBlock  = 10
	slackContextElements = 10
)

// slackMrkdwn is the text type that Slack formats.
const slackMrkdwn = "mrkdwn"

// slackBlock is one Block Kit block; fields unused by a type stay empty.
type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// slackMessage is the body of an incoming-webhook post. Text is the
// fallback shown in notifications.
type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

// slackPayload renders msg as Block Kit: a header with the title, a section
// with the text, sections of fields (ten per block), and a context line
// with the severity, the event and a link.
func slackPayload(msg Message) slackMessage {
	title := firstLine(msg.Title)
	out := slackMessage{Text: slackEscape(title)}
	if title != "" {
		out.Blocks = append(out.Blocks, slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: clip(title, slackHeaderMax)}})
	}
	if msg.Text != "" {
		out.Blocks = append(out.Blocks, slackBlock{Type: "section", Text: &slackText{Type: slackMrkdwn, Text: clip(slackEscape(msg.Text), slackSectionMax)}})
	}
	for start := 0; start < len(msg.Fields); start += slackFieldsPerBlock {
		block := slackBlock{Type: "section"}
		for _, f := range msg.Fields[start:min(start+slackFieldsPerBlock, len(msg.Fields))] {
			block.Fields = append(block.Fields, slackText{Type: slackMrkdwn,
				Text: clip(fmt.Sprintf("*%s*\n%s", slackEscape(f.Name), slackEscape(f.Value)), slackFieldMax)})
		}
		out.Blocks = append(out.Blocks, block)
	}
	var ctxElems []slackText
	if msg.Severity != "" && !hasField(msg, "Severity") {
		ctxElems = append(ctxElems, slackText{Type: slackMrkdwn, Text: "Severity: *" + slackEscape(msg.Severity) + "*"})
	}
	if msg.Event != "" {
		ctxElems = append(ctxElems, slackText{Type: slackMrkdwn, Text: slackEscape(msg.Event)})
	}
	if msg.Link != "" {
		ctxElems = append(ctxElems, slackText{Type: slackMrkdwn, Text: fmt.Sprintf("<%s|Open>", slackLinkEscape(msg.Link))})
	}
	if len(ctxElems) > 0 {
		out.Blocks = append(out.Blocks, slackBlock{Type: "context", Elements: ctxElems[:min(len(ctxElems), slackContextElements)]})
	}
	return out
}

// slackEscaper escapes the three characters Slack's mrkdwn gives meaning
// to; slackLinkEscaper keeps a URL inside <url|label>. A Replacer is safe
// for concurrent use, so one of each serves every message.
var (
	slackEscaper     = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	slackLinkEscaper = strings.NewReplacer("<", "%3C", ">", "%3E", "|", "%7C", " ", "%20")
)

// slackEscape escapes customer text so it cannot form links or mentions.
func slackEscape(s string) string { return slackEscaper.Replace(s) }

// slackLinkEscape keeps a URL inside <url|label>.
func slackLinkEscape(s string) string { return slackLinkEscaper.Replace(s) }

// firstLine returns s up to its first line break.
func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// hasField reports whether msg has a field of that name (any case).
func hasField(msg Message, name string) bool {
	for _, f := range msg.Fields {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}
