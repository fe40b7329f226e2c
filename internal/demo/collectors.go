package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/collectorclient"
)

// configFileKey is the ConfigMap key of the collector configuration.
const configFileKey = "collector.json"

// demoCollectorRateLimit replaces the per-client rate limit of the
// in-process collectors: every simulated customer posts from 127.0.0.1,
// so the per-client limit would throttle all of them as one client.
const demoCollectorRateLimit = 5000

// collectorProc is one in-process collector.
type collectorProc struct {
	touchpoint string
	lis        net.Listener
	privLis    net.Listener
	// Surfaces; the private credential is known once Start read it.
	CollectorEndpoints
}

// CollectorEndpoints are where one collector serves its two surfaces.
type CollectorEndpoints struct {
	// Public is the URL customers post responses to.
	Public string
	// Private is the credentialed API (invitations, status, metrics).
	Private collectorclient.Target
}

// Collectors runs one collector per touchpoint in this process, each on
// its own loopback listener, as the touchpoint's pod would run: with the
// configuration the SurveyTouchpoint controller rendered into the
// collector's ConfigMap and the environment of its pod template.
type Collectors struct {
	namespace string
	// procs by touchpoint name; fixed by NewCollectors.
	procs map[string]*collectorProc
	wg    sync.WaitGroup
	errs  chan error
}

// NewCollectors listens for each touchpoint of namespace: on basePort+i,
// or on free ports when basePort is 0.
func NewCollectors(namespace string, touchpoints []string, basePort int) (*Collectors, error) {
	c := &Collectors{namespace: namespace, procs: map[string]*collectorProc{}, errs: make(chan error, len(touchpoints))}
	for i, tp := range touchpoints {
		port := 0
		if basePort != 0 {
			port = basePort + i
		}
		lis, err := listenLoopback(port, "--collector-base-port")
		if err != nil {
			c.closeListeners()
			return nil, fmt.Errorf("collector of touchpoint %s: %w", tp, err)
		}
		// The private surface on a free port: only the demo's manager
		// and traffic generator call it.
		privLis, err := listenLoopback(0, "")
		if err != nil {
			_ = lis.Close()
			c.closeListeners()
			return nil, fmt.Errorf("collector of touchpoint %s: %w", tp, err)
		}
		c.procs[tp] = &collectorProc{touchpoint: tp, lis: lis, privLis: privLis, CollectorEndpoints: CollectorEndpoints{
			Public: "http://" + lis.Addr().String(), Private: collectorclient.Target{Endpoint: "http://" + privLis.Addr().String()},
		}}
	}
	return c, nil
}

func (c *Collectors) closeListeners() {
	for _, p := range c.procs {
		_ = p.lis.Close()
		_ = p.privLis.Close()
	}
}

// Endpoint is the URL of the private surface of the touchpoint's collector
// ("" when the demo runs none for it). It is the manager's
// CollectorEndpoint.
func (c *Collectors) Endpoint(tp *cxv1alpha1.SurveyTouchpoint) string {
	if p, ok := c.procs[tp.Name]; ok && tp.Namespace == c.namespace {
		return p.Private.Endpoint
	}
	return ""
}

// Endpoints returns the collectors' surfaces by touchpoint name.
func (c *Collectors) Endpoints() map[string]CollectorEndpoints {
	out := map[string]CollectorEndpoints{}
	for name, p := range c.procs {
		out[name] = p.CollectorEndpoints
	}
	return out
}

// Start waits for each touchpoint's rendered configuration and workload,
// then starts its collector with the store under dataDir and the clock now,
// and waits until it answers. Collectors stop when ctx ends; Wait waits
// for them.
func (c *Collectors) Start(ctx context.Context, kube *rest.Config, cl client.Client, namespace, dataDir string, now func() time.Time, log logr.Logger) error {
	for _, name := range slices.Sorted(maps.Keys(c.procs)) {
		p := c.procs[name]
		cfg, env, account, err := renderedCollector(ctx, cl, namespace, name)
		if err != nil {
			return err
		}
		if cfg.Store == "sqlite" {
			dir := filepath.Join(dataDir, "collectors", name)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("collector of touchpoint %s: %w", name, err)
			}
			cfg.SQLitePath = filepath.Join(dir, "responses.db")
		}
		cfg.ListenAddress, cfg.PrivateListenAddress = p.lis.Addr().String(), p.privLis.Addr().String()
		p.Private.Token = env[collector.EnvAPIToken]
		// As the pod's ServiceAccount, so the Role the manager grants it
		// and the admission policies decide what the collector may do
		// (open Cases, merge responses into them), as in a cluster.
		kc := rest.CopyConfig(kube)
		kc.QPS, kc.Burst = 100, 200
		kc.Impersonate = rest.ImpersonationConfig{
			UserName: serviceaccount.MakeUsername(namespace, account),
			Groups:   serviceaccount.MakeGroupNames(namespace),
		}
		c.wg.Go(func() {
			// The options main.go fills from the pod's environment.
			err := collector.Run(ctx, cfg, collector.RunOptions{
				Kube: kc, Listener: p.lis, PrivateListener: p.privLis, Now: now,
				StoreDSN: env[collector.EnvStoreDSN], SigningKey: envBytes(env, collector.EnvSigningKey),
				APIToken: envBytes(env, collector.EnvAPIToken), ProgramAPIToken: envBytes(env, collector.EnvProgramAPIToken),
				RateLimit: demoCollectorRateLimit, RateBurst: 2 * demoCollectorRateLimit,
				MatchReportEvery: 2 * time.Second,
				// Survey links point at this collector's public surface,
				// and due invitations are looked for often: a simulated
				// hour passes in a fraction of a second.
				PublicURL:         p.Public,
				DistributionEvery: 200 * time.Millisecond,
				ShutdownTimeout:   5 * time.Second,
				Log:               log.WithName(name),
			})
			if err != nil && ctx.Err() == nil {
				c.errs <- fmt.Errorf("collector of touchpoint %s stopped: %w", name, err)
			}
		})
		if err := waitHealthy(ctx, p.Public, c.errs); err != nil {
			return fmt.Errorf("collector of touchpoint %s: %w", name, err)
		}
	}
	return nil
}

// Errors reports collectors that stopped before the demo ended.
func (c *Collectors) Errors() <-chan error { return c.errs }

// Wait waits for the collectors to drain and stop (after ctx ended).
func (c *Collectors) Wait() { c.wg.Wait() }

// renderedCollector reads the collector configuration the SurveyTouchpoint
// controller rendered for touchpoint tp, the environment of its pod
// template (values and Secret keys resolved) and its ServiceAccount,
// waiting for them.
func renderedCollector(ctx context.Context, cl client.Client, namespace, tp string) (*collector.FileConfig, map[string]string, string, error) {
	sel := client.MatchingLabels{cxv1alpha1.LabelTouchpoint: tp}
	var cfg *collector.FileConfig
	var env map[string]string
	var account string
	err := poll(ctx, time.Minute, func() (bool, error) {
		var cms corev1.ConfigMapList
		if err := cl.List(ctx, &cms, client.InNamespace(namespace), sel); err != nil {
			return false, err
		}
		for _, cm := range cms.Items {
			raw, ok := cm.Data[configFileKey]
			if !ok {
				continue
			}
			cfg = &collector.FileConfig{}
			if err := json.Unmarshal([]byte(raw), cfg); err != nil {
				return false, fmt.Errorf("ConfigMap %s key %s: %w", cm.Name, configFileKey, err)
			}
		}
		if cfg == nil {
			return false, nil
		}
		tmpl, err := podTemplate(ctx, cl, namespace, sel)
		if tmpl == nil || err != nil {
			return false, err
		}
		account = tmpl.Spec.ServiceAccountName
		env, err = resolveEnv(ctx, cl, namespace, tmpl)
		return err == nil, err
	})
	if err != nil {
		return nil, nil, "", fmt.Errorf("the SurveyTouchpoint controller rendered no collector ConfigMap and workload for touchpoint %s: %w", tp, err)
	}
	if account == "" {
		return nil, nil, "", fmt.Errorf("the collector workload of touchpoint %s names no ServiceAccount", tp)
	}
	return cfg, env, account, nil
}

// podTemplate is the pod template of the touchpoint's Deployment or
// StatefulSet, nil while neither exists.
func podTemplate(ctx context.Context, cl client.Client, namespace string, sel client.MatchingLabels) (*corev1.PodTemplateSpec, error) {
	var deps appsv1.DeploymentList
	if err := cl.List(ctx, &deps, client.InNamespace(namespace), sel); err != nil {
		return nil, err
	}
	if len(deps.Items) > 0 {
		return &deps.Items[0].Spec.Template, nil
	}
	var sts appsv1.StatefulSetList
	if err := cl.List(ctx, &sts, client.InNamespace(namespace), sel); err != nil {
		return nil, err
	}
	if len(sts.Items) > 0 {
		return &sts.Items[0].Spec.Template, nil
	}
	return nil, nil
}

// resolveEnv resolves the first container's environment as the kubelet
// would: literal values and Secret keys.
func resolveEnv(ctx context.Context, cl client.Client, namespace string, tmpl *corev1.PodTemplateSpec) (map[string]string, error) {
	env := map[string]string{}
	if len(tmpl.Spec.Containers) == 0 {
		return env, nil
	}
	for _, e := range tmpl.Spec.Containers[0].Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s := &corev1.Secret{}
			if err := cl.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, s); err != nil {
				if apierrors.IsNotFound(err) && ref.Optional != nil && *ref.Optional {
					continue
				}
				return nil, fmt.Errorf("env %s: Secret %s: %w", e.Name, ref.Name, err)
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				return nil, fmt.Errorf("env %s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = string(v)
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		}
	}
	return env, nil
}

// envBytes is the variable's value, nil when unset.
func envBytes(env map[string]string, name string) []byte {
	if v, ok := env[name]; ok && v != "" {
		return []byte(v)
	}
	return nil
}

// waitHealthy waits until endpoint answers /healthz, or a collector fails.
func waitHealthy(ctx context.Context, endpoint string, errs <-chan error) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/healthz", nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-errs:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("no answer on /healthz within a minute")
		}
	}
}

// poll calls cond every 100 ms until it reports done, fails, or timeout
// passes.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done within %s", timeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
