package demo

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

// AnnotationRewritten is set on the sample objects the demo changed to
// point at its local sinks; its value says what was changed.
const AnnotationRewritten = "cx.cxloop.io/demo-rewritten"

// demoRateLimitPerMinute replaces the channels' rate limits: the samples'
// limits are per real minute, and the demo's minutes are simulated.
const demoRateLimitPerMinute = 6000

// CustomerDomain is the mail domain of the simulated customers invited on
// business events (reserved for examples by RFC 2606).
const CustomerDomain = "customers.example"

// Program is the sample program as the demo applies it.
type Program struct {
	// Objects in the order of config/samples/kustomization.yaml.
	Objects []client.Object
	// ChannelOfRecipient maps an email recipient to its Email channel.
	ChannelOfRecipient map[string]string
	// CustomerEmailChannel is the Email channel touchpoints invite
	// customers through (their spec.distribution.email), "" if none.
	CustomerEmailChannel string
}

// Sinks are where LoadProgram points the channels.
type Sinks struct {
	// SMTPPort of the SMTP sink on 127.0.0.1.
	SMTPPort int
	// HookURL is the webhook sink's URL for a channel.
	HookURL func(channel string) string
	// SMSURL is the SMS gateway sink's Messages URL for a channel, and
	// SMSAccount and SMSToken the credentials it takes.
	SMSURL               func(channel string) string
	SMSAccount, SMSToken string
}

// ChannelOf is the channel an email recipient's messages are filed under:
// the channel that lists the recipient, else, for a simulated customer,
// the channel that invites customers ("" when unknown).
func (p *Program) ChannelOf(rcpt string) string {
	rcpt = strings.ToLower(rcpt)
	if ch := p.ChannelOfRecipient[rcpt]; ch != "" {
		return ch
	}
	if strings.HasSuffix(rcpt, "@"+CustomerDomain) {
		return p.CustomerEmailChannel
	}
	return ""
}

// LoadProgram reads the sample program (config/samples, in the order of its
// kustomization.yaml) and points its NotificationChannels at the local
// sinks: Email channels at the SMTP sink (plain SMTP on loopback, no
// credentials), Slack, Teams and Webhook URLs at the webhook sink, SMS
// channels at the SMS gateway sink with its credentials, all with
// allowPrivateDestinations. Invitation signing keys get random values in
// place of the placeholders.
func LoadProgram(samplesDir string, scheme *k8sruntime.Scheme, sinks Sinks) (*Program, error) {
	resources, err := kustomizationResources(filepath.Join(samplesDir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	p := &Program{ChannelOfRecipient: map[string]string{}}
	for _, res := range resources {
		objs, err := readObjects(filepath.Join(samplesDir, res), decoder)
		if err != nil {
			return nil, err
		}
		p.Objects = append(p.Objects, objs...)
	}
	// Secret values to replace: secret name -> key -> value.
	secretValues := map[string]map[string]string{}
	setSecret := func(name, key, value string) {
		if secretValues[name] == nil {
			secretValues[name] = map[string]string{}
		}
		secretValues[name][key] = value
	}
	for _, obj := range p.Objects {
		switch o := obj.(type) {
		case *cxv1alpha1.NotificationChannel:
			rewriteChannel(o, sinks, setSecret)
			if o.Spec.Email != nil {
				for _, to := range o.Spec.Email.To {
					p.ChannelOfRecipient[strings.ToLower(to)] = o.Name
				}
			}
		case *cxv1alpha1.SurveyTouchpoint:
			if inv := o.Spec.Invitations; inv != nil && inv.SigningKeySecretRef.Name != "" {
				key, err := randomKey()
				if err != nil {
					return nil, err
				}
				setSecret(inv.SigningKeySecretRef.Name, inv.SigningKeySecretRef.Key, key)
			}
			if d := o.Spec.Distribution; d != nil && d.Email != nil && p.CustomerEmailChannel == "" {
				p.CustomerEmailChannel = d.Email.Channel
			}
		}
	}
	for _, obj := range p.Objects {
		s, ok := obj.(*corev1.Secret)
		if !ok || secretValues[s.Name] == nil {
			continue
		}
		if s.StringData == nil {
			s.StringData = map[string]string{}
		}
		for k, v := range secretValues[s.Name] {
			s.StringData[k] = v
			delete(s.Data, k)
		}
		annotate(s, "placeholder values replaced: "+strings.Join(slices.Sorted(maps.Keys(secretValues[s.Name])), ", "))
	}
	return p, nil
}

// rewriteChannel points ch at the local sinks. URLs and credentials kept
// in Secrets are replaced in the Secrets through setSecret.
func rewriteChannel(ch *cxv1alpha1.NotificationChannel, sinks Sinks, setSecret func(name, key, value string)) {
	spec := &ch.Spec
	spec.AllowPrivateDestinations = true
	spec.RateLimitPerMinute = demoRateLimitPerMinute
	smtpPort, url := sinks.SMTPPort, sinks.HookURL(ch.Name)
	switch {
	case spec.SMS != nil:
		was := spec.SMS.URL
		spec.SMS.URL = sinks.SMSURL(ch.Name)
		setSecret(spec.SMS.CredentialsSecretRef.Name, "username", sinks.SMSAccount)
		setSecret(spec.SMS.CredentialsSecretRef.Name, "password", sinks.SMSToken)
		annotate(ch, fmt.Sprintf("SMS gateway %s replaced by the demo's SMS gateway sink %s (credentials in the Secret replaced)", hostOf(was), spec.SMS.URL))
	case spec.Email != nil:
		was := spec.Email.SMTP.Host
		spec.Email.SMTP = cxv1alpha1.SMTPServer{Host: "127.0.0.1", Port: int32(smtpPort), Security: cxv1alpha1.SMTPNone}
		annotate(ch, fmt.Sprintf("SMTP server %s replaced by the demo's SMTP sink on 127.0.0.1:%d (plain SMTP, no credentials)", was, smtpPort))
	case spec.Slack != nil:
		setSecret(spec.Slack.WebhookURLSecretRef.Name, spec.Slack.WebhookURLSecretRef.Key, url)
		annotate(ch, "Slack webhook URL replaced by the demo's webhook sink "+url)
	case spec.Teams != nil:
		setSecret(spec.Teams.WebhookURLSecretRef.Name, spec.Teams.WebhookURLSecretRef.Key, url)
		annotate(ch, "Teams webhook URL replaced by the demo's webhook sink "+url)
	case spec.Webhook != nil:
		if ref := spec.Webhook.URLSecretRef; ref != nil {
			setSecret(ref.Name, ref.Key, url)
		} else {
			spec.Webhook.URL = url
		}
		annotate(ch, "webhook URL replaced by the demo's webhook sink "+url)
	}
}

// hostOf is the host of a URL, or the URL when it does not parse.
func hostOf(u string) string {
	if p, err := neturl.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

func annotate(obj metav1.Object, note string) {
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[AnnotationRewritten] = note
	obj.SetAnnotations(a)
}

// smsCredentials are a fresh account id and auth token for the SMS
// gateway sink (the sample Secret's placeholders are replaced by them).
func smsCredentials() (account, token string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate SMS gateway credentials: %w", err)
	}
	return fmt.Sprintf("AC%x", b[:16]), base64.RawURLEncoding.EncodeToString(b[16:]), nil
}

// randomKey is a fresh 32-byte HMAC key, base64.
func randomKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a signing key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// kustomizationResources lists the resources of a kustomization.yaml.
func kustomizationResources(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the sample program: %w", err)
	}
	defer func() { _ = f.Close() }()
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := utilyaml.NewYAMLOrJSONDecoder(f, 4096).Decode(&k); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	if len(k.Resources) == 0 {
		return nil, fmt.Errorf("%s lists no resources", path)
	}
	return k.Resources, nil
}

// readObjects decodes every YAML document of path into a typed object.
func readObjects(path string, decoder k8sruntime.Decoder) ([]client.Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sample: %w", err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []client.Object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: split YAML documents: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			if k8sruntime.IsMissingKind(err) {
				continue // a document holding only comments
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		co, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%s: a document is a %T, not a Kubernetes object", path, obj)
		}
		out = append(out, co)
	}
	return out, nil
}

// Apply creates the namespace and the program's objects in it, in order,
// with strict field validation (as kubectl apply does).
func (p *Program) Apply(ctx context.Context, c client.Client, namespace string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", namespace, err)
	}
	c = client.WithFieldValidation(c, metav1.FieldValidationStrict)
	for _, obj := range p.Objects {
		obj, ok := obj.DeepCopyObject().(client.Object)
		if !ok {
			continue
		}
		obj.SetNamespace(namespace)
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		if err := c.Create(ctx, obj); err != nil {
			return fmt.Errorf("apply sample %s %s/%s: %w", kind, namespace, obj.GetName(), err)
		}
	}
	return nil
}
