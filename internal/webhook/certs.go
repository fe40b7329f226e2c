package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys of the certificate Secret.
const (
	keyCACert = "ca.crt"
	keyCAKey  = "ca.key"
	keyCert   = corev1.TLSCertKey
	keyKey    = corev1.TLSPrivateKeyKey
)

// Lifetimes: the CA lives ten years, the serving certificate one, and both
// are renewed when less than a third of their life is left.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	certLifetime = 365 * 24 * time.Hour
)

// Certificates keeps the webhook's serving certificate. The Secret is the
// one source all manager replicas share: the first to start creates it, the
// others read it (a conflict on create means another replica won).
type Certificates struct {
	// Client reads and writes the Secret and the webhook configuration
	// (uncached: the manager caches no Secrets).
	Client client.Client
	// Namespace and SecretName of the Secret holding the CA and the serving
	// certificate.
	Namespace, SecretName string
	// DNSNames and IPs the serving certificate is valid for (the webhook
	// Service's names, or 127.0.0.1 for an in-process manager).
	DNSNames []string
	IPs      []net.IP
	// WebhookConfiguration is the MutatingWebhookConfiguration whose
	// webhooks get the CA as caBundle; empty leaves it alone.
	WebhookConfiguration string
	// CertDir receives tls.crt and tls.key for the webhook server, which
	// reloads them when they change.
	CertDir string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Ensure makes the Secret hold a valid CA and serving certificate for the
// names, writes the certificate into CertDir and the CA into the webhook
// configuration. It is safe to call again (the manager does, daily).
func (c *Certificates) Ensure(ctx context.Context) error {
	secret, err := c.secret(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.CertDir, 0o700); err != nil {
		return fmt.Errorf("webhook certificate directory: %w", err)
	}
	for name, data := range map[string][]byte{keyCert: secret.Data[keyCert], keyKey: secret.Data[keyKey]} {
		if err := writeIfChanged(filepath.Join(c.CertDir, name), data); err != nil {
			return err
		}
	}
	return c.injectCA(ctx, secret.Data[keyCACert])
}

// secret returns the certificate Secret, creating or renewing it as needed.
func (c *Certificates) secret(ctx context.Context) (*corev1.Secret, error) {
	key := client.ObjectKey{Namespace: c.Namespace, Name: c.SecretName}
	secret := &corev1.Secret{}
	err := c.Client.Get(ctx, key, secret)
	switch {
	case apierrors.IsNotFound(err):
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.SecretName,
				Labels: map[string]string{"app.kubernetes.io/name": "cxloop", "app.kubernetes.io/component": "webhook"}},
			Type: corev1.SecretTypeTLS,
		}
		if err := c.fill(secret); err != nil {
			return nil, err
		}
		if err := c.Client.Create(ctx, secret); err != nil {
			if apierrors.IsAlreadyExists(err) { // another replica was first
				return c.secret(ctx)
			}
			return nil, fmt.Errorf("create webhook certificate secret %s: %w", key, err)
		}
		return secret, nil
	case err != nil:
		return nil, fmt.Errorf("read webhook certificate secret %s: %w", key, err)
	}
	if c.valid(secret.Data) {
		return secret, nil
	}
	if err := c.fill(secret); err != nil {
		return nil, err
	}
	if err := c.Client.Update(ctx, secret); err != nil {
		if apierrors.IsConflict(err) {
			return c.secret(ctx)
		}
		return nil, fmt.Errorf("renew webhook certificate secret %s: %w", key, err)
	}
	return secret, nil
}

func (c *Certificates) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// valid reports whether data holds a CA and a serving certificate signed by
// it, both with a third of their life left, for all the names.
func (c *Certificates) valid(data map[string][]byte) bool {
	ca, _, err := parsePair(data[keyCACert], data[keyCAKey])
	if err != nil || !fresh(ca, c.now()) {
		return false
	}
	cert, _, err := parsePair(data[keyCert], data[keyKey])
	if err != nil || !fresh(cert, c.now()) || cert.CheckSignatureFrom(ca) != nil {
		return false
	}
	for _, n := range c.DNSNames {
		if !slices.Contains(cert.DNSNames, n) {
			return false
		}
	}
	for _, ip := range c.IPs {
		if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func fresh(cert *x509.Certificate, now time.Time) bool {
	life := cert.NotAfter.Sub(cert.NotBefore)
	return now.After(cert.NotBefore) && cert.NotAfter.Sub(now) > life/3
}

// fill puts a CA (kept when still fresh) and a new serving certificate
// into secret.
func (c *Certificates) fill(secret *corev1.Secret) error {
	now := c.now()
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	ca, caKey, err := parsePair(secret.Data[keyCACert], secret.Data[keyCAKey])
	if err != nil || !fresh(ca, now) {
		ca, caKey, err = newCertificate(&x509.Certificate{
			Subject: pkix.Name{CommonName: "cxloop webhook CA"}, IsCA: true, BasicConstraintsValid: true,
			KeyUsage:  x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(caLifetime),
		}, nil, nil)
		if err != nil {
			return err
		}
		secret.Data[keyCACert], secret.Data[keyCAKey] = encodePair(ca, caKey)
	}
	name := "cxloop-webhook"
	if len(c.DNSNames) > 0 {
		name = c.DNSNames[0]
	}
	cert, key, err := newCertificate(&x509.Certificate{
		Subject: pkix.Name{CommonName: name}, DNSNames: c.DNSNames, IPAddresses: c.IPs,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certLifetime),
	}, ca, caKey)
	if err != nil {
		return err
	}
	secret.Data[keyCert], secret.Data[keyKey] = encodePair(cert, key)
	return nil
}

// newCertificate signs template with parent's key (self-signed when parent
// is nil) for a new P-256 key.
func newCertificate(template, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	template.SerialNumber = serial
	if parent == nil {
		parent, parentKey = template, key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign certificate %s: %w", template.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func encodePair(cert *x509.Certificate, key *ecdsa.PrivateKey) (certPEM, keyPEM []byte) {
	der, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("not an ECDSA key")
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	return cert, key, err
}

func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	// Written aside and renamed, so the server never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// injectCA sets caBundle on every webhook of the configuration.
func (c *Certificates) injectCA(ctx context.Context, ca []byte) error {
	if c.WebhookConfiguration == "" {
		return nil
	}
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Client.Get(ctx, client.ObjectKey{Name: c.WebhookConfiguration}, cfg); err != nil {
		return fmt.Errorf("read MutatingWebhookConfiguration %s to set its caBundle: %w", c.WebhookConfiguration, err)
	}
	before := cfg.DeepCopy()
	for i := range cfg.Webhooks {
		cfg.Webhooks[i].ClientConfig.CABundle = ca
	}
	if err := c.Client.Patch(ctx, cfg, client.MergeFrom(before)); err != nil {
		return fmt.Errorf("set the caBundle of MutatingWebhookConfiguration %s: %w", c.WebhookConfiguration, err)
	}
	return nil
}
