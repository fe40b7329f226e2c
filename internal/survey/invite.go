package survey

import (
	"bytes"
	"html/template"
	"strings"
)

// Invitation is one rendered invitation or reminder.
type Invitation struct {
	Subject string
	Text    string
	HTML    string
	// SMS is the text message.
	SMS string
}

// InvitationParts are the texts and links of an invitation.
type InvitationParts struct {
	// Subject, Body and SMS from the touchpoint's message, with
	// placeholders {firstName}, {name}, {link} and {touchpoint}.
	Subject, Body, SMS string
	FirstName, Name    string
	// Link is the survey link; Unsubscribe the one-click unsubscribe link.
	Link, Unsubscribe string
}

// RenderInvitation fills the placeholders and adds, to the email, the first
// question's scale as links that open the page with that answer chosen,
// and the unsubscribe link.
func RenderInvitation(s *Survey, p InvitationParts) (Invitation, error) {
	name := firstNonEmpty(p.Name, p.FirstName)
	first := firstNonEmpty(p.FirstName, name)
	r := strings.NewReplacer("{firstName}", first, "{name}", name, "{link}", p.Link, "{touchpoint}", s.Title)
	inv := Invitation{Subject: r.Replace(p.Subject), SMS: r.Replace(p.SMS)}
	body := r.Replace(p.Body)
	q, links := FirstScaleLinks(s, p.Link)

	var text strings.Builder
	text.WriteString(body)
	if !strings.Contains(p.Body, "{link}") {
		text.WriteString("\n\n" + p.Link)
	}
	text.WriteString("\n\n" + s.UI.UnsubscribeAsk + " " + p.Unsubscribe + "\n")
	inv.Text = text.String()

	var buf bytes.Buffer
	err := inviteTemplate.Execute(&buf, map[string]any{
		"Lang": s.Locale, "Paragraphs": strings.Split(strings.ReplaceAll(body, p.Link, ""), "\n\n"),
		"Question": q, "Links": links, "Link": p.Link, "Start": s.UI.OpenSurvey, "Unsubscribe": p.Unsubscribe,
		"UnsubscribeText": s.UI.UnsubscribeBtn,
	})
	inv.HTML = buf.String()
	return inv, err
}

// inviteTemplate is the HTML part: inline styles only (mail clients drop
// stylesheets), a table of scale links, a plain link for the rest.
var inviteTemplate = template.Must(template.New("invite").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><body style="margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;font-size:16px;line-height:1.5;color:#1a1a1a;background:#ffffff">
{{range .Paragraphs}}{{if .}}<p style="margin:0 0 16px">{{.}}</p>
{{end}}{{end}}{{if .Links}}<p style="margin:0 0 8px;font-weight:bold">{{.Question.Text}}</p>
<table role="presentation" cellpadding="0" cellspacing="4" style="border-collapse:separate;margin:0 0 4px"><tr>
{{range .Links}}<td><a href="{{.URL}}" style="display:inline-block;min-width:24px;padding:8px 6px;border:2px solid #0b57d0;border-radius:4px;color:#0b57d0;text-decoration:none;text-align:center;font-weight:bold">{{.Value}}</a></td>
{{end}}</tr></table>
{{if or .Question.MinLabel .Question.MaxLabel}}<p style="margin:0 0 16px;font-size:13px;color:#4a4f57">{{.Question.Min}}: {{.Question.MinLabel}} &middot; {{.Question.Max}}: {{.Question.MaxLabel}}</p>
{{end}}{{end}}<p style="margin:0 0 24px"><a href="{{.Link}}" style="display:inline-block;padding:12px 20px;background:#0b57d0;color:#ffffff;border-radius:4px;text-decoration:none;font-weight:bold">{{.Start}}</a></p>
<p style="margin:0;font-size:13px;color:#4a4f57"><a href="{{.Unsubscribe}}" style="color:#4a4f57">{{.UnsubscribeText}}</a></p>
</body></html>
`))
