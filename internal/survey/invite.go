package survey

import (
	"bytes"
	"html/template"
	"strings"
	"sync"
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
	inv, body := invitationTexts(s, p)
	html, err := invitationHTML(s, p, body)
	inv.HTML = html
	return inv, err
}

// invitationTexts are the subject, the plain text and the SMS of an
// invitation, and its body with the placeholders filled.
func invitationTexts(s *Survey, p InvitationParts) (Invitation, string) {
	name := firstNonEmpty(p.Name, p.FirstName)
	first := firstNonEmpty(p.FirstName, name)
	r := strings.NewReplacer("{firstName}", first, "{name}", name, "{link}", p.Link, "{touchpoint}", s.Title)
	inv := Invitation{Subject: r.Replace(p.Subject), SMS: r.Replace(p.SMS)}
	body := r.Replace(p.Body)

	var text strings.Builder
	text.WriteString(body)
	if !strings.Contains(p.Body, "{link}") {
		text.WriteString("\n\n" + p.Link)
	}
	text.WriteString("\n\n" + s.UI.UnsubscribeAsk + " " + p.Unsubscribe + "\n")
	inv.Text = text.String()
	return inv, body
}

// invitationHTML is the HTML part of the invitation with body.
func invitationHTML(s *Survey, p InvitationParts, body string) (string, error) {
	q, links := FirstScaleLinks(s, p.Link)
	var buf bytes.Buffer
	err := inviteTemplate.Execute(&buf, map[string]any{
		"Lang": s.Locale, "Paragraphs": strings.Split(strings.ReplaceAll(body, p.Link, ""), "\n\n"),
		"Question": q, "Links": links, "Link": p.Link, "Start": s.UI.OpenSurvey, "Unsubscribe": p.Unsubscribe,
		"UnsubscribeText": s.UI.UnsubscribeBtn,
	})
	return buf.String(), err
}

// InvitationCache renders invitations as RenderInvitation does, with the
// HTML part executed once per page, message body and link prefixes and
// then filled in per message: the template's execution was a third of the
// CPU time of sending an invitation (BenchmarkScheduledInvitations). What
// it fills in is written as the template writes it: link tokens of URL-safe
// characters, and names without a character the template escapes (other
// invitations are rendered in full). The zero value is ready; keep one per
// version of the pages, as it holds what they rendered.
type InvitationCache struct {
	m sync.Map // invitationKey -> string
}

type invitationKey struct {
	s                       *Survey
	body, link, unsubscribe string
}

// Placeholders the cached HTML holds for what differs per message.
const (
	placeholderMark        = "cxloopPH"
	placeholderFirst       = placeholderMark + "first"
	placeholderName        = placeholderMark + "name"
	placeholderLink        = placeholderMark + "link"
	placeholderUnsubscribe = placeholderMark + "unsubscribe"
)

// Render renders one invitation of s; a nil cache renders it in full.
func (c *InvitationCache) Render(s *Survey, p InvitationParts) (Invitation, error) {
	if c == nil {
		return RenderInvitation(s, p)
	}
	inv, body := invitationTexts(s, p)
	name := firstNonEmpty(p.Name, p.FirstName)
	first := firstNonEmpty(p.FirstName, name)
	linkPrefix, linkToken, ok1 := splitToken(p.Link)
	unsubPrefix, unsubToken, ok2 := splitToken(p.Unsubscribe)
	if !ok1 || !ok2 || !plainName(first) || !plainName(name) || strings.Contains(p.Body, placeholderMark) ||
		strings.Contains(linkPrefix, placeholderMark) || strings.Contains(unsubPrefix, placeholderMark) {
		html, err := invitationHTML(s, p, body)
		inv.HTML = html
		return inv, err
	}
	key := invitationKey{s: s, body: p.Body, link: linkPrefix, unsubscribe: unsubPrefix}
	skeleton, ok := c.m.Load(key)
	if !ok {
		ph := InvitationParts{Body: p.Body, FirstName: placeholderFirst, Name: placeholderName,
			Link: linkPrefix + placeholderLink, Unsubscribe: unsubPrefix + placeholderUnsubscribe}
		_, phBody := invitationTexts(s, ph)
		html, err := invitationHTML(s, ph, phBody)
		if err != nil {
			return inv, err
		}
		skeleton, _ = c.m.LoadOrStore(key, html)
	}
	html, _ := skeleton.(string)
	inv.HTML = strings.NewReplacer(placeholderFirst, first, placeholderName, name,
		placeholderLink, linkToken, placeholderUnsubscribe, unsubToken).Replace(html)
	return inv, nil
}

// splitToken splits a link into what precedes its last path segment and
// that segment, when the segment is a token the template writes as it is
// (letters, digits, '-', '_' and '.').
func splitToken(link string) (prefix, token string, ok bool) {
	i := strings.LastIndexByte(link, '/')
	if i < 0 || i == len(link)-1 {
		return "", "", false
	}
	if strings.TrimLeft(link[i+1:], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
		return "", "", false
	}
	return link[:i+1], link[i+1:], true
}

// plainName reports whether the template writes name as it is: not
// empty (an empty one can empty a paragraph) and without a character
// html/template escapes in text, a line break (the body is split into
// paragraphs at blank lines) or a placeholder.
func plainName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "\x00\"&'+<>\r\n") && !strings.Contains(name, placeholderMark)
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
