package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
)

// httpTarget is an endpoint a message is posted to.
type httpTarget struct {
	// url is the endpoint. Only its host appears in errors: the path of
	// Slack, Teams and many webhook URLs is a credential.
	url *url.URL
	// field is the channel field that names the URL.
	field  string
	client *http.Client
}

// parseTarget checks a URL from a channel. The URL is never echoed: it may
// come from a Secret.
func parseTarget(field, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, Permanent(fmt.Errorf("%s: not an absolute http(s) URL; set a URL such as https://hooks.example.com/path", field))
	}
	return u, nil
}

// postJSON posts payload as JSON and classifies the outcome: 2xx is
// success; 408, 429 and 5xx are transient (with Retry-After); other
// statuses are permanent; network errors are transient except a refused
// destination or an untrusted certificate.
func (n *Notifier) postJSON(ctx context.Context, t httpTarget, payload any) error {
	body, err := json.Marshal(payload)
	if err != nil {
		return Permanent(fmt.Errorf("encode payload: %w", err))
	}
	return n.post(ctx, t, body, nil)
}

func (n *Notifier) post(ctx context.Context, t httpTarget, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(withField(ctx, t.field), http.MethodPost, t.url.String(), bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("%s: %w", t.field, err))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "cxloop-notify")
	resp, err := t.client.Do(req)
	if err != nil {
		return transportError(t, err)
	}
	defer func() { _ = resp.Body.Close() }()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	serr := fmt.Errorf("POST %s: %s%s", t.url.Host, resp.Status, quoteBody(snippet))
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return &retryAfterError{err: serr, after: parseRetryAfter(resp.Header.Get("Retry-After"), n.opts.Now())}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return Permanent(fmt.Errorf("%w: the receiver redirects; set %s to the final URL", serr, t.field))
	default:
		return Permanent(serr)
	}
}

// transportError classifies an error of http.Client.Do without the URL
// that net/http puts in its message.
func transportError(t httpTarget, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var refused *refusedError
	if errors.As(err, &refused) {
		return Permanent(refused)
	}
	if untrustedCertificate(err) {
		return Permanent(fmt.Errorf("POST %s: %w; the server's certificate is not trusted", t.url.Host, err))
	}
	return fmt.Errorf("POST %s: %w", t.url.Host, err)
}

// untrustedCertificate reports whether err is a TLS certificate failure,
// which no retry can fix.
func untrustedCertificate(err error) bool {
	var verr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	return errors.As(err, &verr) || errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &hostname)
}

// quoteBody renders the start of a response body for an error message, on
// one line.
func quoteBody(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, string(b))
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return fmt.Sprintf(" (%s)", s)
}
