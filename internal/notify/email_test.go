package notify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// testPKI is a CA generated for one test and a server certificate it
// signed for 127.0.0.1 and localhost.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cxloop test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "smtp.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{pool: pool, server: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

// receivedMail is one message an SMTP server accepted.
type receivedMail struct {
	From string
	To   []string
	Data []byte
	// TLS and User tell how the session was protected and who logged in.
	TLS  bool
	User string
}

// smtpReceiver is a real SMTP server (go-smtp) on loopback.
type smtpReceiver struct {
	mu           sync.Mutex
	mails        []receivedMail
	authAttempts int
	// username and password are required when set.
	username, password string
	addr               string
}

// startSMTP serves SMTP on loopback: with STARTTLS (implicitTLS false) or
// implicit TLS. AUTH PLAIN is offered only over TLS.
func startSMTP(t *testing.T, pki testPKI, implicitTLS bool, username, password string) *smtpReceiver {
	t.Helper()
	r := &smtpReceiver{username: username, password: password}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{r: r, conn: c}, nil
	}))
	srv.Domain = "smtp.test"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{pki.server}, MinVersion: tls.VersionTLS12}
	srv.ErrorLog = discardLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if implicitTLS {
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	r.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *smtpReceiver) Mails() []receivedMail {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedMail(nil), r.mails...)
}

func (r *smtpReceiver) port(t *testing.T) int32 {
	_, p, _ := net.SplitHostPort(r.addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

type smtpSession struct {
	r    *smtpReceiver
	conn *smtp.Conn
	user string
	cur  receivedMail
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		s.r.mu.Lock()
		s.r.authAttempts++
		s.r.mu.Unlock()
		if username != s.r.username || password != s.r.password {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.r.username != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = receivedMail{From: from, User: s.user}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.cur.TLS = s.conn.TLSConnectionState()
	s.cur.Data = b
	s.r.mu.Lock()
	s.r.mails = append(s.r.mails, s.cur)
	s.r.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.cur = receivedMail{} }
func (s *smtpSession) Logout() error { return nil }

// emailChannel is an Email channel to the test server on loopback.
func emailChannel(ns, name string, port int32, security cxv1alpha1.SMTPSecurity, credentials string) *cxv1alpha1.NotificationChannel {
	ch := &cxv1alpha1.NotificationChannel{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: cxv1alpha1.NotificationChannelSpec{
			Type:                     cxv1alpha1.ChannelTypeEmail,
			AllowPrivateDestinations: true,
			Email: &cxv1alpha1.EmailChannel{
				SMTP: cxv1alpha1.SMTPServer{Host: "127.0.0.1", Port: port, Security: security},
				From: "Acme CX <cx@acme.example>",
				To:   []string{"support-leads@acme.example", "qa@acme.example"},
			},
		},
	}
	if credentials != "" {
		ch.Spec.Email.SMTP.CredentialsSecretRef = &cxv1alpha1.SecretReference{Name: credentials}
	}
	return ch
}

// reportMessage is a weekly report with an HTML body and an inline chart.
func reportMessage() Message {
	return Message{
		Key:   "report-weekly-2026-11",
		Event: "Report",
		Title: "Résumé hebdomadaire: NPS 42 ↑",
		Text:  "NPS rose to 42 this week.",
		HTML:  `<html><body><h1>NPS 42</h1><img src="cid:nps-trend" alt="NPS trend"></body></html>`,
		Attachments: []Attachment{{
			ContentID: "nps-trend", ContentType: "image/png", Filename: "nps-trend.png",
			Data: append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0, 1, 2, 250}, 100)...),
		}},
	}
}

// An email over STARTTLS with AUTH PLAIN arrives with its headers, both
// alternative parts and the inline image, to every recipient.
func TestEmailStartTLS(t *testing.T) {
	pki := newTestPKI(t)
	srv := startSMTP(t, pki, false, "cx-bot", "s3cret")
	ns := env.Namespace(t)
	create(t,
		secret(ns, "smtp-credentials", map[string]string{"username": "cx-bot", "password": "s3cret"}),
		emailChannel(ns, "leads", srv.port(t), cxv1alpha1.SMTPStartTLS, "smtp-credentials"))
	n, clk := newTestNotifier(t, func(o *Options) { o.RootCAs = pki.pool })

	msg := reportMessage()
	if err := n.Deliver(context.Background(), ns, "leads", msg); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	mails := srv.Mails()
	if len(mails) != 1 {
		t.Fatalf("server got %d messages, want 1", len(mails))
	}
	m := mails[0]
	if !m.TLS || m.User != "cx-bot" {
		t.Errorf("session TLS=%v user=%q, want STARTTLS and AUTH as cx-bot", m.TLS, m.User)
	}
	if m.From != "cx@acme.example" || strings.Join(m.To, ",") != "support-leads@acme.example,qa@acme.example" {
		t.Errorf("envelope from %q to %v", m.From, m.To)
	}

	parsed, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, m.Data)
	}
	h := parsed.Header
	if raw := h.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Errorf("Subject %q is not RFC 2047 encoded", raw)
	}
	if subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); err != nil || subject != msg.Title {
		t.Errorf("Subject decodes to %q (%v), want %q", subject, err, msg.Title)
	}
	if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Name != "Acme CX" || from.Address != "cx@acme.example" {
		t.Errorf("From = %q", h.Get("From"))
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 2 {
		t.Errorf("To = %q", h.Get("To"))
	}
	if date, err := h.Date(); err != nil || !date.Equal(clk.Now()) {
		t.Errorf("Date = %q, want %v", h.Get("Date"), clk.Now())
	}
	id := h.Get("Message-ID")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@acme.example>") {
		t.Errorf("Message-ID = %q", id)
	}

	// Both parts and the inline image.
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q", h.Get("Content-Type"))
	}
	alt := multipart.NewReader(parsed.Body, params["boundary"])
	text := nextPart(t, alt)
	if text.contentType != "text/plain" || !strings.Contains(string(text.body), "NPS rose to 42 this week.") {
		t.Errorf("first part %s: %q", text.contentType, text.body)
	}
	related := nextPart(t, alt)
	if related.contentType != "multipart/related" {
		t.Fatalf("second part is %s, want multipart/related", related.contentType)
	}
	rel := multipart.NewReader(bytes.NewReader(related.body), related.params["boundary"])
	html := nextPart(t, rel)
	if html.contentType != "text/html" || string(html.body) != msg.HTML {
		t.Errorf("HTML part %s: %q", html.contentType, html.body)
	}
	img := nextPart(t, rel)
	if img.contentType != "image/png" || img.header.Get("Content-ID") != "<nps-trend>" ||
		!strings.HasPrefix(img.header.Get("Content-Disposition"), "inline") || !bytes.Equal(img.body, msg.Attachments[0].Data) {
		t.Errorf("image part %s %v: %d bytes", img.contentType, img.header, len(img.body))
	}

	// The Message-ID comes from the key: another Notifier (which does not
	// remember the key) sends the same id.
	n2, _ := newTestNotifier(t, func(o *Options) { o.RootCAs = pki.pool })
	if err := n2.Deliver(context.Background(), ns, "leads", msg); err != nil {
		t.Fatalf("Deliver again: %v", err)
	}
	again, err := mail.ReadMessage(bytes.NewReader(srv.Mails()[1].Data))
	if err != nil || again.Header.Get("Message-ID") != id {
		t.Errorf("second Message-ID = %q, want %q", again.Header.Get("Message-ID"), id)
	}
}

// part is one decoded MIME part.
type part struct {
	contentType string
	params      map[string]string
	header      textproto.MIMEHeader
	body        []byte
}

// nextPart reads the next part, decoding base64 bodies (quoted-printable
// is decoded by multipart.Reader itself).
func nextPart(t *testing.T, r *multipart.Reader) part {
	t.Helper()
	p, err := r.NextPart()
	if err != nil {
		t.Fatalf("next MIME part: %v", err)
	}
	body, err := io.ReadAll(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
		if body, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), "")); err != nil {
			t.Fatalf("base64 part: %v", err)
		}
	}
	mt, params, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("part Content-Type %q: %v", p.Header.Get("Content-Type"), err)
	}
	return part{contentType: mt, params: params, header: p.Header, body: body}
}

// Implicit TLS (port 465 style) without credentials; a message without HTML
// gets an HTML part made from its text and a table of its fields.
func TestEmailImplicitTLS(t *testing.T) {
	pki := newTestPKI(t)
	srv := startSMTP(t, pki, true, "", "")
	ns := env.Namespace(t)
	create(t, emailChannel(ns, "leads", srv.port(t), cxv1alpha1.SMTPTLS, ""))
	n, _ := newTestNotifier(t, func(o *Options) { o.RootCAs = pki.pool })

	msg := sampleMessage("case-9-opened")
	msg.Text = "Score 3 <of 10> & no completion."
	if err := n.Deliver(context.Background(), ns, "leads", msg); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	mails := srv.Mails()
	if len(mails) != 1 || !mails[0].TLS || len(mails[0].To) != 2 {
		t.Fatalf("server got %+v", mails)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(mails[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header.Get("Subject") != "Installation failed for Acme Corp" || parsed.Header.Get("X-Cxloop-Event") != "CaseOpened" {
		t.Errorf("headers %v", parsed.Header)
	}
	_, params, _ := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	alt := multipart.NewReader(parsed.Body, params["boundary"])
	text := nextPart(t, alt)
	for _, want := range []string{"Score 3 <of 10> & no completion.", "Customer: Acme Corp (Gold)\r\n", "https://cx.example.com/cases/acme-4711"} {
		if !strings.Contains(string(text.body), want) {
			t.Errorf("text part lacks %q:\n%s", want, text.body)
		}
	}
	html := nextPart(t, alt)
	for _, want := range []string{"Score 3 &lt;of 10&gt; &amp; no completion.", "<th align=\"left\">Customer</th><td>Acme Corp (Gold)</td>", `<a href="https://cx.example.com/cases/acme-4711">`} {
		if html.contentType != "text/html" || !strings.Contains(string(html.body), want) {
			t.Errorf("HTML part (%s) lacks %q:\n%s", html.contentType, want, html.body)
		}
	}
}

// A rejected password (535) is permanent: one AUTH attempt, no retry. A
// server whose certificate is not trusted is refused, also permanently.
func TestEmailPermanentFailures(t *testing.T) {
	pki := newTestPKI(t)
	srv := startSMTP(t, pki, false, "cx-bot", "s3cret")
	ns := env.Namespace(t)
	create(t,
		secret(ns, "wrong", map[string]string{"username": "cx-bot", "password": "guess"}),
		emailChannel(ns, "leads", srv.port(t), cxv1alpha1.SMTPStartTLS, "wrong"))

	n, clk := newTestNotifier(t, func(o *Options) { o.RootCAs = pki.pool })
	err := n.Deliver(context.Background(), ns, "leads", reportMessage())
	if !IsPermanent(err) || !strings.Contains(err.Error(), "AUTH PLAIN") {
		t.Errorf("error = %v, want a permanent AUTH failure", err)
	}
	if srv.AuthAttempts() != 1 || len(clk.Slept()) != 0 || len(srv.Mails()) != 0 {
		t.Errorf("auth attempts %d, waits %v, mails %d; want 1, none, 0", srv.AuthAttempts(), clk.Slept(), len(srv.Mails()))
	}

	untrusting, _ := newTestNotifier(t) // system roots only
	err = untrusting.Deliver(context.Background(), ns, "leads", reportMessage())
	if !IsPermanent(err) || !strings.Contains(err.Error(), "certificate is not trusted") {
		t.Errorf("error = %v, want a permanent certificate error", err)
	}
}

// SMTP credentials are not sent without TLS, even to a server that offers
// AUTH on a plain connection: the delivery fails permanently before
// connecting.
func TestEmailCredentialsNeedTLS(t *testing.T) {
	pki := newTestPKI(t)
	srv := startSMTP(t, pki, false, "cx-bot", "s3cret")
	ns := env.Namespace(t)
	create(t,
		secret(ns, "creds", map[string]string{"username": "cx-bot", "password": "s3cret"}),
		emailChannel(ns, "plain", srv.port(t), cxv1alpha1.SMTPNone, "creds"))
	n, _ := newTestNotifier(t, func(o *Options) { o.RootCAs = pki.pool })
	err := n.Deliver(context.Background(), ns, "plain", reportMessage())
	if !IsPermanent(err) || !strings.Contains(err.Error(), "spec.email.smtp.credentialsSecretRef: credentials are never sent over an unencrypted connection") {
		t.Errorf("error = %v, want a permanent refusal naming the field", err)
	}
	if srv.AuthAttempts() != 0 || len(srv.Mails()) != 0 {
		t.Errorf("auth attempts %d, mails %d; want none", srv.AuthAttempts(), len(srv.Mails()))
	}
}

func (r *smtpReceiver) AuthAttempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.authAttempts
}

func mustAddress(t testing.TB, s string) *mail.Address {
	a, err := mail.ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A message addressed to people (Message.To) goes to them only, not to
// the channel's own list, in the envelope and the header; a channel that
// cannot address people refuses it for good.
func TestEmailAddressedToPeople(t *testing.T) {
	pki := newTestPKI(t)
	srv := startSMTP(t, pki, false, "", "")
	ns := env.Namespace(t)
	rcv := newReceiver(t, http.StatusOK)
	create(t, emailChannel(ns, "people", srv.port(t), cxv1alpha1.SMTPStartTLS, ""))
	createWebhookChannel(t, ns, "crm", rcv.URL)
	n, _ := newTestNotifier(t, func(o *Options) { o.RootCAs = pki.pool })

	msg := sampleMessage("case/Opened/to/priya")
	msg.To = []string{"Priya Nair <priya@acme.example>"}
	if err := n.Deliver(context.Background(), ns, "people", msg); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	mails := srv.Mails()
	if len(mails) != 1 || strings.Join(mails[0].To, ",") != "priya@acme.example" {
		t.Fatalf("mails %+v, want one to priya@acme.example only", mails)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(mails[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if to, err := parsed.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "priya@acme.example" {
		t.Errorf("To header = %q, want Priya only", parsed.Header.Get("To"))
	}
	if err := n.Deliver(context.Background(), ns, "crm", msg); !IsPermanent(err) || !strings.Contains(err.Error(), "cannot address people") {
		t.Errorf("person-addressed message to a webhook: %v, want a permanent error", err)
	}
	if len(rcv.Requests()) != 0 {
		t.Error("the webhook received a message addressed to a person")
	}
}
