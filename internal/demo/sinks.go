package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Inbox keeps every message the local sinks receive as one file under
// <dir>/<channel>/: email as .eml (RFC 5322, as sent), chat and webhook
// posts as .json (the body, as sent).
type Inbox struct {
	dir string

	mu     sync.Mutex
	counts map[string]int
}

// NewInbox creates dir.
func NewInbox(dir string) (*Inbox, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create inbox %s: %w", dir, err)
	}
	return &Inbox{dir: dir, counts: map[string]int{}}, nil
}

// Dir is the inbox's directory.
func (in *Inbox) Dir() string { return in.dir }

// save writes one message of channel.
func (in *Inbox) save(channel, ext string, data []byte) error {
	in.mu.Lock()
	in.counts[channel]++
	n := in.counts[channel]
	in.mu.Unlock()
	dir := filepath.Join(in.dir, channel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, fmt.Sprintf("%06d%s", n, ext)), data, 0o644)
}

// Total is the number of messages received.
func (in *Inbox) Total() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, v := range in.counts {
		n += v
	}
	return n
}

// CountFiles counts the files under an inbox directory per channel (its
// subdirectories), as a person listing it would.
func CountFiles(dir string) (map[string]int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = len(files)
	}
	return out, nil
}

// SMTPSink is a real SMTP server on loopback (no TLS, no AUTH) that files
// each message under the inbox directory of the channel whose recipients
// it was sent to.
type SMTPSink struct {
	srv *smtp.Server
}

// StartSMTPSink serves SMTP on lis. channelOf maps a recipient address to
// the channel that sends to it; unknown recipients file under "email".
// deliver, when set, is handed every message once it is filed (the
// simulated customers read their mail through it).
func StartSMTPSink(lis net.Listener, inbox *Inbox, channelOf func(rcpt string) string, deliver func(rcpts []string, raw []byte)) *SMTPSink {
	s := &SMTPSink{}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{inbox: inbox, channelOf: channelOf, deliver: deliver}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	s.srv.MaxMessageBytes = 32 << 20
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go func() { _ = s.srv.Serve(lis) }()
	return s
}

// Close stops the server.
func (s *SMTPSink) Close() error { return s.srv.Close() }

type smtpSession struct {
	inbox     *Inbox
	channelOf func(string) string
	deliver   func([]string, []byte)
	rcpts     []string
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	channel := "email"
	for _, to := range s.rcpts {
		if c := s.channelOf(strings.ToLower(to)); c != "" {
			channel = c
			break
		}
	}
	if err := s.inbox.save(channel, ".eml", b); err != nil {
		return err
	}
	if s.deliver != nil {
		s.deliver(s.rcpts, b)
	}
	return nil
}

func (s *smtpSession) Reset()        { s.rcpts = nil }
func (s *smtpSession) Logout() error { return nil }

// WebhookSink is an HTTP server on loopback that files each POST to
// /hooks/<channel> under the inbox directory of <channel> and answers 204.
// Slack, Teams and generic webhook channels all point at it.
type WebhookSink struct {
	srv  *http.Server
	addr *net.TCPAddr
}

// StartWebhookSink serves HTTP on lis.
func StartWebhookSink(lis net.Listener, inbox *Inbox) *WebhookSink {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/{channel}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		if err := inbox.save(r.PathValue("channel"), ".json", body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := &WebhookSink{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	s.addr, _ = lis.Addr().(*net.TCPAddr)
	go func() { _ = s.srv.Serve(lis) }()
	return s
}

// URL is where channel's messages go.
func (s *WebhookSink) URL(channel string) string {
	return fmt.Sprintf("http://%s/hooks/%s", s.addr.String(), channel)
}

// Close stops the server.
func (s *WebhookSink) Close() error { return shutdown(s.srv) }

// shutdown stops srv, waiting up to 5 seconds for requests in flight.
func shutdown(srv *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// SMSSink is an HTTP SMS gateway on loopback speaking the Twilio-style
// Messages API, as the SMS NotificationChannels expect of their gateway:
// POST /sms/<channel>/2010-04-01/Accounts/<account>/Messages.json with the
// form fields To, From and Body under HTTP basic authentication (the
// account and its token), answered 201. It files each text message as
// .json under the inbox directory of <channel>, once per Idempotency-Key
// (a retried request is answered again and not filed twice), and hands it
// to deliver.
type SMSSink struct {
	srv            *http.Server
	addr           *net.TCPAddr
	account, token string

	mu   sync.Mutex
	seen map[string]bool
}

// SMSRecord is one text message as the SMS sink files it.
type SMSRecord struct {
	To             string `json:"to"`
	From           string `json:"from"`
	Body           string `json:"body"`
	IdempotencyKey string `json:"idempotencyKey"`
}

// StartSMSSink serves the gateway on lis for account and token.
func StartSMSSink(lis net.Listener, inbox *Inbox, account, token string, deliver func(to, body string)) *SMSSink {
	s := &SMSSink{account: account, token: token, seen: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sms/{channel}/2010-04-01/Accounts/{account}/Messages.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		user, pass, ok := r.BasicAuth()
		if !ok || user != s.account || pass != s.token || r.PathValue("account") != s.account {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"code":20003,"message":"Authentication Error - invalid username","status":401}`)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil || r.PostForm.Get("To") == "" || r.PostForm.Get("Body") == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"code":21604,"message":"A 'To' phone number and a 'Body' are required.","status":400}`)
			return
		}
		rec := SMSRecord{To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), Body: r.PostForm.Get("Body"), IdempotencyKey: r.Header.Get("Idempotency-Key")}
		s.mu.Lock()
		again := rec.IdempotencyKey != "" && s.seen[rec.IdempotencyKey]
		s.seen[rec.IdempotencyKey] = true
		s.mu.Unlock()
		if !again {
			data, _ := json.MarshalIndent(rec, "", "  ")
			if err := inbox.save(r.PathValue("channel"), ".json", data); err != nil {
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = io.WriteString(w, `{"code":20500,"message":"Internal Server Error","status":500}`)
				return
			}
			if deliver != nil {
				deliver(rec.To, rec.Body)
			}
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = fmt.Fprintf(w, `{"status":"queued","to":%q}`, rec.To)
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.addr, _ = lis.Addr().(*net.TCPAddr)
	go func() { _ = s.srv.Serve(lis) }()
	return s
}

// URL is the Messages resource the SMS channel named channel posts to.
func (s *SMSSink) URL(channel string) string {
	return fmt.Sprintf("http://%s/sms/%s/2010-04-01/Accounts/%s/Messages.json", s.addr.String(), channel, s.account)
}

// Credentials are the account and token the sink takes.
func (s *SMSSink) Credentials() (account, token string) { return s.account, s.token }

// Close stops the server.
func (s *SMSSink) Close() error { return shutdown(s.srv) }
