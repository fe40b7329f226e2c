package demo

import (
	"context"
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
func StartSMTPSink(lis net.Listener, inbox *Inbox, channelOf func(rcpt string) string) *SMTPSink {
	s := &SMTPSink{}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{inbox: inbox, channelOf: channelOf}, nil
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
	return s.inbox.save(channel, ".eml", b)
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
func (s *WebhookSink) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
