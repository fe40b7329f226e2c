// Command cxloop is the cxloop operator: `cxloop manager` runs the
// controllers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/controllers"
	"github.com/cxloop/cxloop/internal/collector"
	"github.com/cxloop/cxloop/internal/demo"
	"github.com/cxloop/cxloop/internal/inbox"
	"github.com/cxloop/cxloop/internal/kubeapi"
	"github.com/cxloop/cxloop/internal/notify"
	"github.com/cxloop/cxloop/internal/predict"
	"github.com/cxloop/cxloop/internal/programcheck"
	"github.com/cxloop/cxloop/internal/programtest"
	cxscheme "github.com/cxloop/cxloop/internal/scheme"
	cxwebhook "github.com/cxloop/cxloop/internal/webhook"
)

const usage = `cxloop closes the customer-feedback loop on Kubernetes.

Usage:
  cxloop manager [flags]     run the controllers (leader-elected)
  cxloop collector [flags]   run the ingestion service of one touchpoint
  cxloop inbox [flags]       serve the frontline's case inbox (behind an authenticating proxy)
  cxloop demo [flags]        run everything on this machine: control plane, manager, collectors, sample program
  cxloop validate -f PATH    check a program offline, as applying it would (CRD schemas, CEL rules, the controllers' checks)
  cxloop test PATH...        run a program's unit tests (responses, clock advances, expected Cases and notifications)
  cxloop backtest -f PATH ... replay a collector's stored responses against a changed rule; changes nothing
  cxloop predict -f PATH ... train and judge a touchpoint's prediction offline on exported events and responses
  cxloop help              show this text

Run "cxloop <command> -h" for a command's flags.
`

func main() {
	if err := run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cxloop:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "manager":
		return runManager(ctx, args[1:], stderr)
	case "collector":
		return runCollector(ctx, args[1:], stderr)
	case "inbox":
		return runInbox(ctx, args[1:], stderr)
	case "demo":
		return demo.Command(ctx, args[1:], os.Stdout, stderr)
	case "validate":
		return programcheck.Command(ctx, args[1:], os.Stdin, os.Stdout, stderr)
	case "test":
		return programtest.Command(ctx, args[1:], os.Stdout, stderr)
	case "backtest":
		return programtest.Backtest(ctx, args[1:], os.Stdout, stderr)
	case "predict":
		return predict.Command(ctx, args[1:], os.Stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stderr, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// managerFlags are the flags of `cxloop manager`.
type managerFlags struct {
	metricsAddr      string
	metricsSecure    bool
	metricsCertDir   string
	probeAddr        string
	webhookPort      int
	outboxBlocked    time.Duration
	webhookCertDir   string
	webhookSecret    string
	webhookConfig    string
	webhookService   string
	leaderElect      bool
	leaderElectionNS string
	kubeAPIQPS       float64
	kubeAPIBurst     int
	collectorImage   string
	notificationURL  string
	collectorURL     string
	programNS        string
	zap              zap.Options
}

func runManager(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f managerFlags
	fs.StringVar(&f.metricsAddr, "metrics-bind-address", ":8443", "address the Prometheus metrics endpoint binds to; 0 disables it")
	fs.BoolVar(&f.metricsSecure, "metrics-secure", true, "serve metrics over HTTPS, only to callers the API server authenticates (TokenReview) and authorizes for GET /metrics (SubjectAccessReview); false serves plain HTTP to anyone who reaches the port")
	fs.StringVar(&f.metricsCertDir, "metrics-cert-dir", "", "directory with tls.crt and tls.key for the metrics endpoint (reloaded when they change); empty uses a self-signed certificate generated at start")
	fs.DurationVar(&f.outboxBlocked, "outbox-blocked-after", 15*time.Minute, "a touchpoint reports its collector's outbox blocked (Ready=False, OutboxBlocked) when the oldest action has waited longer than this")
	fs.IntVar(&f.webhookPort, "webhook-port", 9443, "port of the Case admission webhook (server time on actions, audit of state, assignee and severity); 0 disables it")
	fs.StringVar(&f.webhookCertDir, "webhook-cert-dir", filepath.Join(os.TempDir(), "cxloop-webhook"), "directory the webhook's serving certificate is written to")
	fs.StringVar(&f.webhookSecret, "webhook-secret", "cxloop-webhook-cert", "Secret in the manager's namespace that holds the webhook's CA and certificate (created and renewed by the manager)")
	fs.StringVar(&f.webhookConfig, "webhook-configuration", "cxloop-case-audit", "MutatingWebhookConfiguration whose caBundle the manager sets")
	fs.StringVar(&f.webhookService, "webhook-service", "cxloop-webhook-service", "Service in the manager's namespace that fronts the webhook (the certificate's names)")
	fs.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address the /healthz and /readyz probes bind to")
	fs.BoolVar(&f.leaderElect, "leader-elect", false, "elect a leader so that only one manager replica reconciles")
	fs.StringVar(&f.leaderElectionNS, "leader-election-namespace", "", "namespace of the leader-election lease (default: the manager's namespace)")
	// No client-side limit by default: the API server's Priority and
	// Fairness knows what it can take and answers 429 with Retry-After,
	// which the client waits out (client-go's default QPS 5 capped a busy
	// manager at 5 writes/s).
	fs.Float64Var(&f.kubeAPIQPS, "kube-api-qps", -1, kubeAPIQPSHelp)
	fs.IntVar(&f.kubeAPIBurst, "kube-api-burst", 100, "burst of requests to the API server, with a positive --kube-api-qps")
	fs.StringVar(&f.collectorImage, "collector-image", "", "image of touchpoint collectors (default: the manager's own image, read from its pod via POD_NAME and POD_NAMESPACE)")
	fs.StringVar(&f.notificationURL, "notification-base-url", "", "base URL of links in notifications and reports, e.g. https://cx.example.com (links are <base>/namespaces/<ns>/cases/<name>); empty leaves links out")
	fs.StringVar(&f.collectorURL, "collector-endpoint", "", "address of the collectors' private API for a manager outside the cluster (make run), "+
		"e.g. http://127.0.0.1:9443 behind kubectl port-forward; {namespace}, {touchpoint} and {service} are replaced per touchpoint. "+
		"Default: each collector Service's in-cluster address")
	fs.StringVar(&f.programNS, "program-namespaces", "", "comma-separated namespaces of the CX programs the manager runs: it caches and acts only there, "+
		"so it needs its ClusterRole bound only there (a RoleBinding in each: config/program, the chart's programNamespaces). "+
		"Empty: every namespace, which needs the ClusterRole bound cluster-wide (every Secret of the cluster readable)")
	f.zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&f.zap)))
	programNamespaces, err := controllers.ParseProgramNamespaces(f.programNS)
	if err != nil {
		return fmt.Errorf("--program-namespaces: %w", err)
	}
	log := ctrl.Log.WithName("setup")
	var collectorEndpoint func(*cxv1alpha1.SurveyTouchpoint) string
	if f.collectorURL != "" {
		var err error
		if collectorEndpoint, err = controllers.CollectorEndpointTemplate(f.collectorURL); err != nil {
			return err
		}
		log.Info("collectors reached through --collector-endpoint", "template", f.collectorURL)
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	if err := kubeapi.Limit(cfg, f.kubeAPIQPS, f.kubeAPIBurst); err != nil {
		return err
	}
	cacheOpts := cache.Options{}
	if len(programNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range programNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
		log.Info("program namespaces", "namespaces", programNamespaces)
	}

	metricsOpts := metricsserver.Options{BindAddress: f.metricsAddr, SecureServing: f.metricsSecure}
	if f.metricsSecure {
		// Authenticated and authorized with the API server, as the
		// metrics-auth-role and metrics-reader ClusterRoles of config/rbac
		// and the chart expect.
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
		metricsOpts.CertDir = f.metricsCertDir
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  cxscheme.New(),
		Cache:                   cacheOpts,
		Metrics:                 metricsOpts,
		WebhookServer:           ctrlwebhook.NewServer(ctrlwebhook.Options{Port: f.webhookPort, CertDir: f.webhookCertDir}),
		HealthProbeBindAddress:  f.probeAddr,
		LeaderElection:          f.leaderElect,
		LeaderElectionID:        "manager.cxloop.io",
		LeaderElectionNamespace: f.leaderElectionNS,
		// The manager exits as soon as it loses the lease, so a new leader
		// can start without waiting for this one's lease to expire.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if f.collectorImage == "" {
		if f.collectorImage, err = ownImage(ctx, mgr.GetAPIReader()); err != nil {
			return err
		}
	}
	log.Info("collector image", "image", f.collectorImage)
	if f.notificationURL != "" {
		if u, err := url.Parse(f.notificationURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("--notification-base-url %q: want an absolute http(s) URL such as https://cx.example.com", f.notificationURL)
		}
	}
	// One notifier for the process: it keeps per-channel rate limits and
	// idempotency keys. Secrets are read uncached (the cache holds only
	// their metadata).
	notifier := notify.NewWithSecretReader(mgr.GetClient(), mgr.GetAPIReader(), notify.Options{
		Registerer: metrics.Registry, Log: ctrl.Log.WithName("notify"),
	})
	opts := controllers.Options{
		CollectorImage:      f.collectorImage,
		OutboxBlockedAfter:  f.outboxBlocked,
		Deliverer:           notifier,
		CaseArchiver:        &controllers.CollectorArchiver{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Endpoint: collectorEndpoint},
		NotificationBaseURL: strings.TrimSuffix(f.notificationURL, "/"),
		CollectorEndpoint:   collectorEndpoint,
	}
	if err := controllers.SetupWithManager(mgr, opts); err != nil {
		return err
	}
	if f.webhookPort != 0 {
		ns := os.Getenv("POD_NAMESPACE")
		if ns == "" {
			return errors.New("the Case webhook needs POD_NAMESPACE (the namespace of its certificate Secret and Service); set it, or pass --webhook-port=0")
		}
		svc := f.webhookService
		if err := cxwebhook.Add(ctx, mgr, &cxwebhook.Certificates{
			Namespace: ns, SecretName: f.webhookSecret, WebhookConfiguration: f.webhookConfig, CertDir: f.webhookCertDir,
			DNSNames: []string{svc, svc + "." + ns, svc + "." + ns + ".svc", svc + "." + ns + ".svc.cluster.local"},
		}, nil); err != nil {
			return fmt.Errorf("case webhook: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}
	log.Info("starting manager")
	return mgr.Start(ctx)
}

// ownImage returns the image of the manager's own container, so collectors
// run the same build as the manager unless --collector-image says otherwise.
func ownImage(ctx context.Context, c client.Reader) (string, error) {
	name, ns := os.Getenv("POD_NAME"), os.Getenv("POD_NAMESPACE")
	if name == "" || ns == "" {
		return "", errors.New("--collector-image is required when POD_NAME and POD_NAMESPACE are not set (outside a pod)")
	}
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pod); err != nil {
		return "", fmt.Errorf("read the manager's pod %s/%s to find its image (or set --collector-image): %w", ns, name, err)
	}
	for _, ctr := range pod.Spec.Containers {
		if ctr.Name == "manager" {
			return ctr.Image, nil
		}
	}
	return "", fmt.Errorf("pod %s/%s has no container named manager; set --collector-image", ns, name)
}

func runCollector(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "/etc/cxloop/collector.json", "collector configuration file (rendered by the SurveyTouchpoint controller)")
	standalone := fs.Bool("standalone", false, "serve the configuration's touchpoint snapshot without an API server")
	// As for the manager: Priority and Fairness paces the collector. A
	// client limit of 100/s capped Case creation at about 110/s where the
	// API server took 611/s.
	qps := fs.Float64("kube-api-qps", -1, kubeAPIQPSHelp+" (Case creation: one or two requests per matched response)")
	burst := fs.Int("kube-api-burst", 200, "burst of requests to the API server, with a positive --kube-api-qps")
	inflightBytes := fs.Int64("max-inflight-bytes", 0, "bound on the request bytes all requests in flight hold together (each reserves twice its body); "+
		"a request that does not fit is answered 503 with Retry-After. 0: a quarter of the container's memory limit (cgroup), 256 MiB without one; negative: no bound")
	profiling := fs.Bool("profiling", false, "serve Go's runtime profiles (net/http/pprof) under /debug/pprof/ on the private surface, behind its bearer token")
	var zapOpts zap.Options
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	cfg, err := collector.ReadFileConfig(*configPath)
	if err != nil {
		return err
	}
	// The environment is read here and only here: the pod template maps
	// the touchpoint's Secrets into it.
	opts := collector.RunOptions{
		Log:              ctrl.Log.WithName("collector"),
		StoreDSN:         os.Getenv(collector.EnvStoreDSN),
		SigningKey:       envBytes(collector.EnvSigningKey),
		APIToken:         envBytes(collector.EnvAPIToken),
		ProgramAPIToken:  envBytes(collector.EnvProgramAPIToken),
		MaxInflightBytes: *inflightBytes,
		Profiling:        *profiling,
	}
	// The garbage collector works harder as the heap nears the
	// container's limit, rather than the pod being OOM-killed first.
	if limit := collector.ContainerMemoryLimit(); limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit / 10 * 9)
	}
	if !*standalone {
		kube, err := ctrl.GetConfig()
		if err != nil {
			return fmt.Errorf("load kubeconfig (or pass --standalone): %w", err)
		}
		if err := kubeapi.Limit(kube, *qps, *burst); err != nil {
			return err
		}
		opts.Kube = kube
	}
	return collector.Run(ctx, cfg, opts)
}

// kubeAPIQPSHelp documents --kube-api-qps of both binaries.
const kubeAPIQPSHelp = "sustained requests per second to the API server, all of the binary's clients together; negative (the default): no client-side limit, " +
	"the API server's Priority and Fairness paces requests and the client waits out its 429 Retry-After"

// envBytes is the variable's value, nil when unset or empty.
func envBytes(name string) []byte {
	if v := os.Getenv(name); v != "" {
		return []byte(v)
	}
	return nil
}

func runInbox(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("inbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("bind-address", ":8090", "address the inbox serves HTTP on; expose it only to the authenticating proxy")
	trusted := fs.String("trusted-proxy-cidrs", "", "comma-separated addresses or CIDRs of the authenticating proxy (required); identity headers from anywhere else are refused")
	var auth inbox.ProxyAuth
	fs.StringVar(&auth.UserHeader, "user-header", "X-Forwarded-User", "header carrying the signed-in user name (oauth2-proxy --pass-user-headers)")
	fs.StringVar(&auth.GroupsHeader, "groups-header", "X-Forwarded-Groups", "header carrying the user's groups, comma-separated")
	fs.StringVar(&auth.EmailHeader, "email-header", "X-Forwarded-Email", "header carrying the user's email (shown only)")
	fs.StringVar(&auth.UserPrefix, "user-prefix", "", "prefix added to user names, as the API server's --oidc-username-prefix")
	fs.StringVar(&auth.GroupPrefix, "group-prefix", "", "prefix added to group names, as the API server's --oidc-groups-prefix")
	csrfKeyFile := fs.String("csrf-key-file", "", "file holding the key that signs form tokens (the same for every replica); default: a random key per process")
	namespaces := fs.String("namespaces", "", "comma-separated namespaces to serve; default: all")
	qps := fs.Float64("kube-api-qps", 50, "sustained requests per second to the API server, all users' requests together; negative: no client-side limit")
	burst := fs.Int("kube-api-burst", 100, "burst of requests to the API server")
	var zapOpts zap.Options
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	var err error
	if auth.Trusted, err = inbox.ParsePrefixes(*trusted); err != nil {
		return fmt.Errorf("--trusted-proxy-cidrs: %w", err)
	}
	if len(auth.Trusted) == 0 {
		return errors.New("--trusted-proxy-cidrs is required: the addresses of the authenticating proxy (for example oauth2-proxy's pod CIDR)")
	}
	opts := inbox.Options{Auth: auth, Scheme: cxscheme.New(), Log: ctrl.Log.WithName("inbox")}
	if *csrfKeyFile != "" {
		if opts.CSRFKey, err = os.ReadFile(*csrfKeyFile); err != nil {
			return fmt.Errorf("--csrf-key-file: %w", err)
		}
		if len(opts.CSRFKey) < 32 {
			return fmt.Errorf("--csrf-key-file %s: the key has %d bytes; use at least 32 random bytes", *csrfKeyFile, len(opts.CSRFKey))
		}
	}
	for _, ns := range strings.Split(*namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			opts.Namespaces = append(opts.Namespaces, ns)
		}
	}
	if opts.Config, err = ctrl.GetConfig(); err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	if err := kubeapi.Limit(opts.Config, *qps, *burst); err != nil {
		return err
	}
	srv, err := inbox.New(opts)
	if err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("--bind-address %s: %w", *addr, err)
	}
	ctrl.Log.WithName("inbox").Info("serving the inbox", "address", l.Addr().String())
	return srv.Serve(ctx, l)
}
