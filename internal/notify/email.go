package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// maxSubject is the longest Subject, in characters, before it is cut.
const maxSubject = 200

// smtpTimeout bounds one SMTP session (connect, TLS, AUTH, DATA).
const smtpTimeout = 2 * time.Minute

// emailSender sends through an SMTP submission server.
type emailSender struct {
	n        *Notifier
	dial     *guardedDialer
	host     string
	port     int32
	security cxv1alpha1.SMTPSecurity
	// auth is nil when the channel names no credentials Secret.
	auth sasl.Client
	from *mail.Address
	to   []*mail.Address
	// scope makes Message-IDs differ between channels for the same Key.
	scope string
}

// newEmailSender parses the addresses and reads the credentials.
func (n *Notifier) newEmailSender(ctx context.Context, ch *cxv1alpha1.NotificationChannel) (sender, error) {
	e := ch.Spec.Email
	s := &emailSender{
		n: n, dial: n.guardDial, host: e.SMTP.Host, port: e.SMTP.Port, security: e.SMTP.Security,
		scope: ch.Namespace + "/" + ch.Name,
	}
	if ch.Spec.AllowPrivateDestinations {
		s.dial = n.openDial
	}
	if s.port == 0 {
		s.port = 587
	}
	var err error
	if s.from, err = mail.ParseAddress(e.From); err != nil {
		return nil, Permanent(fmt.Errorf("spec.email.from: %q is not an email address (%w); set name@example.com or \"Name <name@example.com>\"", e.From, err))
	}
	for i, to := range e.To {
		a, err := mail.ParseAddress(to)
		if err != nil {
			return nil, Permanent(fmt.Errorf("spec.email.to[%d]: %q is not an email address (%w); fix it", i, to, err))
		}
		s.to = append(s.to, a)
	}
	if ref := e.SMTP.CredentialsSecretRef; ref != nil {
		const field = "spec.email.smtp.credentialsSecretRef"
		// AUTH PLAIN over a plain connection hands the password to anyone
		// on the path, or to whichever server the host points at.
		if e.SMTP.Security == cxv1alpha1.SMTPNone {
			return nil, Permanent(fmt.Errorf("%s: credentials are never sent over an unencrypted connection (spec.email.smtp.security: None); use StartTLS or TLS, or remove the credentials", field))
		}
		sec, err := n.secret(ctx, ch.Namespace, field, ref.Name)
		if err != nil {
			return nil, err
		}
		for _, k := range []string{"username", "password"} {
			if len(sec.Data[k]) == 0 {
				return nil, Permanent(fmt.Errorf("%s: Secret %q has no key %q (or it is empty); add it", field, ref.Name, k))
			}
		}
		s.auth = sasl.NewPlainClient("", string(sec.Data["username"]), string(sec.Data["password"]))
	}
	return s, nil
}

func (s *emailSender) send(ctx context.Context, msg Message) error {
	return s.sendWith(ctx, emailHeader{}, msg)
}

// sendWith sends msg with the extra header fields of h (From, To, Date and
// Message-ID are the sender's).
func (s *emailSender) sendWith(ctx context.Context, h emailHeader, msg Message) error {
	// A message addressed to people goes to them only, not to the
	// channel's own list.
	rcpt := s.to
	if len(msg.To) > 0 {
		rcpt = nil
		for i, to := range msg.To {
			a, err := mail.ParseAddress(to)
			if err != nil {
				return Permanent(fmt.Errorf("message recipient %d: %q is not an email address (%w)", i, to, err))
			}
			rcpt = append(rcpt, a)
		}
	}
	if len(rcpt) == 0 {
		return Permanent(errors.New("spec.email.to: no recipients; list at least one address"))
	}
	h.From, h.To, h.Date = s.from, rcpt, s.n.opts.Now()
	h.MessageID = messageID(s.scope, msg.Key, s.from.Address)
	raw, err := buildEmail(h, msg)
	if err != nil {
		return Permanent(err)
	}
	addr := net.JoinHostPort(s.host, strconv.Itoa(int(s.port)))
	conn, err := s.dial.DialContext(withField(ctx, "spec.email.smtp.host"), "tcp", addr)
	if err != nil {
		var refused *refusedError
		if errors.As(err, &refused) {
			return Permanent(refused)
		}
		return fmt.Errorf("connect to SMTP server %s: %w", addr, err)
	}
	defer func() { _ = conn.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(smtpTimeout))
	if err := s.session(conn, rcpt, raw); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("SMTP %s: %w", addr, ctx.Err())
		}
		return smtpError(addr, err)
	}
	return nil
}

// session speaks SMTP on conn: TLS as configured, AUTH PLAIN, one message.
func (s *emailSender) session(conn net.Conn, rcpt []*mail.Address, raw []byte) error {
	cfg := &tls.Config{ServerName: s.host, RootCAs: s.n.opts.RootCAs, MinVersion: tls.VersionTLS12}
	var c *smtp.Client
	switch s.security {
	case cxv1alpha1.SMTPTLS:
		c = smtp.NewClient(tls.Client(conn, cfg))
	case cxv1alpha1.SMTPNone:
		c = smtp.NewClient(conn)
	default: // StartTLS, the default
		var err error
		if c, err = smtp.NewClientStartTLS(conn, cfg); err != nil {
			// go-smtp reports a server without STARTTLS with a plain error.
			if strings.Contains(err.Error(), "support STARTTLS") {
				return Permanent(fmt.Errorf("spec.email.smtp.security: the server does not offer STARTTLS; use TLS (usually port 465), or None only for a relay on a trusted network"))
			}
			return err
		}
	}
	defer func() { _ = c.Close() }()
	// EHLO (again, after STARTTLS) here, where its error (a failed TLS
	// handshake among them) is returned; later calls would swallow it.
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if s.auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return Permanent(fmt.Errorf("spec.email.smtp.credentialsSecretRef: the server offers no AUTH on this connection; remove the credentials or use StartTLS or TLS"))
		}
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	to := make([]string, len(rcpt))
	for i, a := range rcpt {
		to[i] = a.Address
	}
	if err := c.SendMail(s.from.Address, to, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

// smtpError classifies a failed session: SMTP 5xx replies and untrusted
// certificates are permanent; 4xx replies and network errors are transient.
func smtpError(addr string, err error) error {
	err = fmt.Errorf("SMTP %s: %w", addr, err)
	var serr *smtp.SMTPError
	switch {
	case IsPermanent(err):
		return err
	case errors.As(err, &serr) && serr.Code >= 500:
		return Permanent(err)
	case untrustedCertificate(err):
		return Permanent(fmt.Errorf("%w; the server's certificate is not trusted", err))
	}
	return err
}

// messageID derives the Message-ID from the idempotency key, so a receiver
// (or a mail client) can recognise a message sent twice.
func messageID(scope, key, from string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	domain := "cxloop.invalid"
	if i := strings.LastIndexByte(from, '@'); i >= 0 && i+1 < len(from) {
		domain = from[i+1:]
	}
	return "<" + hex.EncodeToString(sum[:16]) + "@" + domain + ">"
}

// emailHeader are the envelope-level headers of a message.
type emailHeader struct {
	From      *mail.Address
	To        []*mail.Address
	Date      time.Time
	MessageID string
	// ListUnsubscribe, when set, is the one-click unsubscribe URL of a
	// message to a customer (RFC 2369 and RFC 8058).
	ListUnsubscribe string
}

// buildEmail renders msg as a MIME message: multipart/alternative with a
// plain-text part and an HTML part; the HTML part is multipart/related
// when there are inline attachments (referenced as cid:<ContentID>). When
// msg.HTML is empty the HTML part is made from the text and fields.
func buildEmail(h emailHeader, msg Message) ([]byte, error) {
	var buf bytes.Buffer
	to := make([]string, len(h.To))
	for i, a := range h.To {
		to[i] = a.String()
	}
	// The writer writes nothing until its first part, so its boundary can
	// go into the headers first.
	alt := multipart.NewWriter(&buf)
	writeHeader(&buf, "From", h.From.String())
	writeHeader(&buf, "To", strings.Join(to, ", "))
	writeHeader(&buf, "Subject", mime.QEncoding.Encode("utf-8", clip(firstLine(msg.Title), maxSubject)))
	writeHeader(&buf, "Date", h.Date.Format(time.RFC1123Z))
	writeHeader(&buf, "Message-ID", h.MessageID)
	writeHeader(&buf, "MIME-Version", "1.0")
	writeHeader(&buf, "Auto-Submitted", "auto-generated")
	if h.ListUnsubscribe != "" {
		writeHeader(&buf, "List-Unsubscribe", "<"+h.ListUnsubscribe+">")
		writeHeader(&buf, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
	if msg.Event != "" {
		writeHeader(&buf, "X-Cxloop-Event", mime.QEncoding.Encode("utf-8", msg.Event))
	}
	writeHeader(&buf, "Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": alt.Boundary()}))
	buf.WriteString("\r\n")

	if err := writeQP(alt, "text/plain; charset=utf-8", plainBody(msg)); err != nil {
		return nil, err
	}
	html := msg.HTML
	if html == "" {
		var err error
		if html, err = htmlBody(msg); err != nil {
			return nil, err
		}
	}
	if len(msg.Attachments) == 0 {
		if err := writeQP(alt, "text/html; charset=utf-8", html); err != nil {
			return nil, err
		}
	} else if err := writeRelated(alt, html, msg.Attachments); err != nil {
		return nil, err
	}
	if err := alt.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeHeader writes one header field, folded at spaces so that lines
// stay near 78 characters (RFC 5322 section 2.2.3); folding at a space
// keeps the meaning of unstructured fields and of address lists.
func writeHeader(buf *bytes.Buffer, name, value string) {
	line := name + ":"
	for i, word := range strings.Split(value, " ") {
		if i > 0 && len(line)+1+len(word) > 76 {
			buf.WriteString(line + "\r\n")
			line = ""
		}
		line += " " + word
	}
	buf.WriteString(line + "\r\n")
}

// writeQP writes a quoted-printable part.
func writeQP(w *multipart.Writer, contentType, body string) error {
	pw, err := w.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {contentType},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(pw)
	if _, err := qp.Write([]byte(body)); err != nil {
		return err
	}
	return qp.Close()
}

// writeRelated writes the HTML part with its inline attachments.
func writeRelated(alt *multipart.Writer, html string, atts []Attachment) error {
	var inner bytes.Buffer
	rel := multipart.NewWriter(&inner)
	if err := writeQP(rel, "text/html; charset=utf-8", html); err != nil {
		return err
	}
	for i, a := range atts {
		if a.ContentID == "" {
			return fmt.Errorf("attachment %d (%q) has no ContentID; inline attachments are referenced as cid:<ContentID>", i, a.Filename)
		}
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		hdr := textproto.MIMEHeader{
			"Content-Type":              {ct},
			"Content-Transfer-Encoding": {"base64"},
			"Content-ID":                {"<" + strings.Trim(a.ContentID, "<>") + ">"},
			"Content-Disposition":       {"inline"},
		}
		if a.Filename != "" {
			hdr.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": a.Filename}))
		}
		pw, err := rel.CreatePart(hdr)
		if err != nil {
			return err
		}
		if _, err := pw.Write(base64Lines(a.Data)); err != nil {
			return err
		}
	}
	if err := rel.Close(); err != nil {
		return err
	}
	pw, err := alt.CreatePart(textproto.MIMEHeader{
		"Content-Type": {mime.FormatMediaType("multipart/related", map[string]string{"boundary": rel.Boundary(), "type": "text/html"})},
	})
	if err != nil {
		return err
	}
	_, err = pw.Write(inner.Bytes())
	return err
}

// base64Lines encodes data as base64 in lines of 76 characters (RFC 2045).
func base64Lines(data []byte) []byte {
	enc := base64.StdEncoding.EncodeToString(data)
	out := make([]byte, 0, len(enc)+len(enc)/76*2+2)
	for len(enc) > 76 {
		out = append(out, enc[:76]...)
		out = append(out, "\r\n"...)
		enc = enc[76:]
	}
	out = append(out, enc...)
	return append(out, "\r\n"...)
}

// plainBody is the text part: the text, the fields as "Name: Value" lines
// and the link.
func plainBody(msg Message) string {
	var b strings.Builder
	b.WriteString(msg.Text)
	if len(msg.Fields) > 0 {
		b.WriteString("\n\n")
		for _, f := range msg.Fields {
			fmt.Fprintf(&b, "%s: %s\n", f.Name, f.Value)
		}
	}
	if msg.Link != "" {
		fmt.Fprintf(&b, "\n%s\n", msg.Link)
	}
	return strings.ReplaceAll(strings.ReplaceAll(b.String(), "\r\n", "\n"), "\n", "\r\n")
}

var htmlTemplate = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><body style="font-family:sans-serif">
<h2>{{.Title}}</h2>
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}{{if .Fields}}<table cellpadding="4" style="border-collapse:collapse">
{{range .Fields}}<tr><th align="left">{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{end}}{{if .Link}}<p><a href="{{.Link}}">Open</a></p>
{{end}}</body></html>
`))

// htmlBody makes the HTML part from the text: paragraphs, a table of the
// fields and the link, all escaped.
func htmlBody(msg Message) (string, error) {
	var paragraphs []string
	for _, p := range strings.Split(strings.ReplaceAll(msg.Text, "\r\n", "\n"), "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			paragraphs = append(paragraphs, p)
		}
	}
	var b strings.Builder
	err := htmlTemplate.Execute(&b, map[string]any{
		"Title": firstLine(msg.Title), "Paragraphs": paragraphs, "Fields": msg.Fields, "Link": msg.Link,
	})
	return b.String(), err
}
