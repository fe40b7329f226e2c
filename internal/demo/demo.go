package demo

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/controllers"
	"github.com/cxloop/cxloop/internal/notify"
	cxscheme "github.com/cxloop/cxloop/internal/scheme"
	cxwebhook "github.com/cxloop/cxloop/internal/webhook"
)

// Options configure Run. The zero value of a field takes its default.
type Options struct {
	// Assets is the directory with kube-apiserver and etcd (default
	// $KUBEBUILDER_ASSETS, else <repo>/bin/k8s).
	Assets string
	// Repo is the cxloop checkout with config/crd/bases and config/samples
	// (default: the working directory or a parent).
	Repo string
	// DataDir holds the collectors' SQLite stores, the inbox, the report,
	// the kubeconfig and the log (default: a new temporary directory).
	DataDir string
	// Namespace the sample program is applied in (default acme-cx).
	Namespace string
	// Responses to replay (default 3000).
	Responses int
	// Seed of the response stream (default 1).
	Seed uint64
	// Speed is how many simulated seconds pass per real second once the
	// responses are replayed (default 3600: a simulated hour per second).
	Speed float64
	// ReplaySpeed is the clock's speed while the responses are replayed
	// (default 1, the wall clock's). The API server stamps a Case's
	// creationTimestamp, which the Case controller takes as its openedAt,
	// on the wall clock: Cases opened while the clock runs fast would look
	// older than they are, by up to the replay's length times the speed.
	ReplaySpeed float64
	// Simulate is how much simulated time passes before the summary (at
	// least the replay's; default 72h, the longest installation closure
	// goal of the samples).
	Simulate time.Duration
	// Exit ends the demo after the summary; otherwise it runs until ctx
	// ends (Ctrl-C).
	Exit bool
	// APIPort of the kube-apiserver (0: a free port).
	APIPort int
	// CollectorBasePort is the port of the first touchpoint's collector,
	// the next ones on the following ports (0: free ports).
	CollectorBasePort int
	// Workers post responses concurrently (default 8).
	Workers int
	// Customers invited on business events (default 60): their events
	// are posted to the collectors of the touchpoints with a
	// distribution, and they answer, unsubscribe or ignore the
	// invitations and reminders they receive in the sinks.
	Customers int
	// NoTeam leaves every Case as the rules opened it; by default a
	// simulated frontline team contacts customers, resolves and closes
	// about two thirds of the Cases on the simulated clock.
	NoTeam bool
	// Out receives progress and the summary (default os.Stdout).
	Out io.Writer
}

func (o *Options) defaults() error {
	if o.Namespace == "" {
		o.Namespace = "acme-cx"
	}
	if o.Responses == 0 {
		o.Responses = 3000
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Speed == 0 {
		o.Speed = 3600
	}
	if o.ReplaySpeed == 0 {
		o.ReplaySpeed = 1
	}
	if o.Simulate == 0 {
		o.Simulate = 72 * time.Hour
	}
	if o.Workers == 0 {
		o.Workers = 8
	}
	if o.Customers == 0 {
		o.Customers = 60
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	switch {
	case o.Responses < 0:
		return fmt.Errorf("--responses must be positive, not %d", o.Responses)
	case o.Speed < 1:
		return fmt.Errorf("--speed must be at least 1 (simulated seconds per real second), not %g", o.Speed)
	case o.Customers < 0:
		return fmt.Errorf("--customers must be positive, not %d", o.Customers)
	case o.Workers < 1:
		return fmt.Errorf("--workers must be at least 1, not %d", o.Workers)
	case o.ReplaySpeed < 1:
		return fmt.Errorf("--replay-speed must be at least 1 (simulated seconds per real second), not %g", o.ReplaySpeed)
	case o.APIPort < 0 || o.APIPort > 65535:
		return fmt.Errorf("--api-port must be a port number (0 for a free one), not %d", o.APIPort)
	case o.CollectorBasePort < 0 || o.CollectorBasePort > 65000:
		return fmt.Errorf("--collector-base-port must be a port number (0 for free ports), not %d", o.CollectorBasePort)
	}
	return nil
}

// Command runs `cxloop demo` with its command-line flags.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	var seed uint64
	fs.StringVar(&o.Assets, "assets", "", "directory with kube-apiserver and etcd (default $KUBEBUILDER_ASSETS, else bin/k8s; hack/setup-envtest.sh builds them and prints it)")
	fs.StringVar(&o.Repo, "repo", "", "cxloop checkout with config/crd/bases and config/samples (default: the working directory or a parent)")
	fs.StringVar(&o.DataDir, "data-dir", "", "directory for the collectors' SQLite stores, the inbox of notifications, the report, the kubeconfig and the log (default: a new temporary directory)")
	fs.StringVar(&o.Namespace, "namespace", "acme-cx", "namespace of the sample program")
	fs.IntVar(&o.Responses, "responses", 3000, "survey responses to replay")
	fs.Uint64Var(&seed, "seed", 1, "seed of the response stream (the same seed replays the same answers)")
	fs.Float64Var(&o.Speed, "speed", 3600, "simulated seconds per real second once the responses are in (3600: an hour per second)")
	fs.Float64Var(&o.ReplaySpeed, "replay-speed", 1, "simulated seconds per real second while the responses are replayed; above 1, Cases opened late in the replay look older than they are (the API server stamps their creation on the wall clock)")
	fs.DurationVar(&o.Simulate, "simulate", 72*time.Hour, "simulated time to run before the summary (deadlines pass and Cases escalate in it)")
	fs.BoolVar(&o.Exit, "exit", false, "exit after the summary instead of running until Ctrl-C")
	fs.IntVar(&o.APIPort, "api-port", 0, "port of the kube-apiserver on 127.0.0.1 (0: a free port)")
	fs.IntVar(&o.CollectorBasePort, "collector-base-port", 0, "port of the first touchpoint's collector on 127.0.0.1, the others on the next ports (0: free ports)")
	fs.IntVar(&o.Workers, "workers", 8, "concurrent clients posting responses")
	fs.IntVar(&o.Customers, "customers", 60, "customers invited on business events: their events go to the collectors, the invitations to the local SMTP and SMS sinks, and they answer the survey page, unsubscribe or ignore it")
	fs.BoolVar(&o.NoTeam, "no-team", false, "do not simulate the frontline team that contacts customers, resolves and closes Cases")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; see cxloop demo -h", fs.Arg(0))
	}
	o.Seed, o.Out = seed, stdout
	_, err := Run(ctx, o)
	return err
}

// tickAnnotation is set on Cases (annotation) and SurveyTouchpoints
// (label) to wake their controllers on the simulated clock; see wake.
const tickAnnotation = "cx.cxloop.io/demo-clock"

// Run runs the demo until the summary (with Exit) or until ctx ends, and
// returns the summary.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	s := &session{o: o, out: &printer{w: o.Out}}
	defer s.close()
	if err := s.prepare(); err != nil {
		if s.tempDir != "" {
			// Nothing ran: leave no empty data directory behind.
			s.close()
			s.closers = nil
			_ = os.RemoveAll(s.tempDir)
		}
		return nil, err
	}
	if err := s.startControlPlane(); err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(ctx)
	s.onClose(func() {
		stop()
		s.collectors.Wait()
		s.background.Wait()
	})
	if err := s.startProgram(runCtx); err != nil {
		return nil, err
	}
	sum, err := s.simulate(runCtx)
	if err != nil {
		return nil, err
	}
	sum.Print(s.out)
	if o.Exit {
		return sum, nil
	}
	// From here a person explores by hand: the clock goes on at the wall
	// clock's pace (still ahead of it), so a survey link does not expire
	// and a Case does not go overdue while one reads an email.
	s.clock.Accelerate(1)
	s.out.Printf(`
The control plane keeps running until Ctrl-C, and the simulated clock now
goes on at the wall clock's pace. Explore it with kubectl:

  export KUBECONFIG=%[1]s
  kubectl get cx -n %[2]s
  kubectl get cases -n %[2]s
  kubectl get cases -n %[2]s -o wide --sort-by=.status.dueAt
  kubectl describe case -n %[2]s %[3]s
  kubectl get alertrules,notificationchannels -n %[2]s

The simulated clock runs ahead of the wall clock, so kubectl shows times it
takes to be in the future, such as Due, as <invalid>.
Notifications: %[4]s
`, s.kubeconfig, o.Namespace, sum.ExampleCase, s.inbox.Dir())
	s.printSignIn()
	select {
	case <-ctx.Done():
	case err := <-s.mgrErr:
		return sum, err
	case err := <-s.collectors.Errors():
		return sum, err
	}
	s.out.Printf("stopping ...\n")
	return sum, nil
}

// session is one run of the demo: what it started, to stop in reverse.
type session struct {
	o      Options
	out    *printer
	log    logr.Logger
	assets string
	inbox  *Inbox
	hooks  *WebhookSink
	sms    *SMSSink
	// custs are the simulated customers of the business events, once the
	// program runs; the sinks hand them their messages.
	custs       atomic.Pointer[customers]
	program     *Program
	touchpoints []string
	collectors  *Collectors
	env         *envtest.Environment
	cfg         *rest.Config
	cl          client.Client
	clock       *Clock
	kubeconfig  string
	inboxURL    string
	signIn      map[string]string // user → sign-in URL
	team        *team
	// tempDir is the data directory when the demo created it.
	tempDir    string
	mgrErr     chan error
	background sync.WaitGroup
	closers    []func()
}

func (s *session) onClose(f func()) { s.closers = append(s.closers, f) }

// close stops everything started, last first.
func (s *session) close() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

// prepare finds the checkout and the binaries, opens the data directory
// and the log, starts the sinks, reads the sample program and listens for
// the collectors, so that a missing binary or a taken port fails before
// anything runs.
func (s *session) prepare() error {
	o := &s.o
	if o.Repo == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if o.Repo, err = FindRepo(wd); err != nil {
			return err
		}
	}
	var err error
	if s.assets, err = FindAssets(o.Assets, o.Repo); err != nil {
		return err
	}
	if err := checkPortFree(o.APIPort, "--api-port"); err != nil {
		return err
	}
	if o.DataDir == "" {
		if o.DataDir, err = os.MkdirTemp("", "cxloop-demo-"); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		s.tempDir = o.DataDir
	} else if err := emptyDir(o.DataDir); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(o.DataDir, "demo.log"))
	if err != nil {
		return fmt.Errorf("create log file: %w", err)
	}
	s.onClose(func() { _ = logFile.Close() })
	s.log = zap.New(zap.WriteTo(logFile), zap.UseDevMode(false))
	ctrl.SetLogger(s.log)
	klog.SetLogger(s.log.WithName("client-go"))

	if s.inbox, err = NewInbox(filepath.Join(o.DataDir, "inbox")); err != nil {
		return err
	}
	hookLis, err := listenLoopback(0, "")
	if err != nil {
		return err
	}
	s.hooks = StartWebhookSink(hookLis, s.inbox)
	s.onClose(func() { _ = s.hooks.Close() })
	smsLis, err := listenLoopback(0, "")
	if err != nil {
		return err
	}
	account, token, err := smsCredentials()
	if err != nil {
		_ = smsLis.Close()
		return err
	}
	s.sms = StartSMSSink(smsLis, s.inbox, account, token, func(to, body string) {
		if c := s.custs.Load(); c != nil {
			c.receiveSMS(to, body)
		}
	})
	s.onClose(func() { _ = s.sms.Close() })
	smtpLis, err := listenLoopback(0, "")
	if err != nil {
		return err
	}
	smtpPort := 0
	if a, ok := smtpLis.Addr().(*net.TCPAddr); ok {
		smtpPort = a.Port
	}
	sinks := Sinks{SMTPPort: smtpPort, HookURL: s.hooks.URL, SMSURL: s.sms.URL, SMSAccount: account, SMSToken: token}
	if s.program, err = LoadProgram(filepath.Join(o.Repo, "config", "samples"), cxscheme.New(), sinks); err != nil {
		_ = smtpLis.Close()
		return err
	}
	mail := StartSMTPSink(smtpLis, s.inbox, s.program.ChannelOf, func(rcpts []string, raw []byte) {
		if c := s.custs.Load(); c != nil {
			c.receiveEmail(rcpts, raw)
		}
	})
	s.onClose(func() { _ = mail.Close() })

	for _, obj := range s.program.Objects {
		if tp, ok := obj.(*cxv1alpha1.SurveyTouchpoint); ok {
			s.touchpoints = append(s.touchpoints, tp.Name)
		}
	}
	if s.collectors, err = NewCollectors(o.Namespace, s.touchpoints, o.CollectorBasePort); err != nil {
		return err
	}
	// Closes the listeners of collectors that never started.
	s.onClose(s.collectors.closeListeners)
	return nil
}

// emptyDir creates dir, or checks that it is empty: the stores and the
// inbox of an earlier run would mix with this run's (its control plane is
// new).
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create --data-dir: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read --data-dir: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("--data-dir %s is not empty (an earlier demo's stores and inbox?): remove it or choose another directory", dir)
	}
	return nil
}

// startControlPlane starts etcd and kube-apiserver with the CRDs and
// writes the kubeconfig.
func (s *session) startControlPlane() error {
	s.out.Printf("cxloop demo: data in %s (log: demo.log)\n", s.o.DataDir)
	s.out.Printf("starting etcd and kube-apiserver from %s ...\n", s.assets)
	env := newControlPlane(s.assets, s.o.Repo, s.o.APIPort)
	s.env = env
	cfg, err := env.Start()
	s.onClose(func() {
		if err := env.Stop(); err != nil {
			s.out.Printf("stop the control plane: %v\n", err)
		}
	})
	if err != nil {
		return fmt.Errorf("start the control plane from %s: %w", s.assets, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	s.cfg = cfg
	s.kubeconfig = filepath.Join(s.o.DataDir, "kubeconfig")
	if err := writeKubeconfig(env, s.kubeconfig); err != nil {
		return err
	}
	s.out.Printf("control plane ready at %s; CRDs installed\n", cfg.Host)
	return nil
}

// startProgram starts the manager on the accelerated clock, applies the
// sample program and starts its collectors.
func (s *session) startProgram(ctx context.Context) error {
	s.clock = NewClock(s.o.ReplaySpeed)
	s.mgrErr = make(chan error, 1)
	scheme := cxscheme.New()
	var err error
	if s.cl, err = client.New(s.cfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("API client: %w", err)
	}
	// The inbox first: notification links point at it.
	if s.inboxURL, s.signIn, err = startInbox(ctx, s.cfg, scheme, s.o.Namespace, s.clock.Now, s.log.WithName("inbox"), &s.background); err != nil {
		return err
	}
	// The access hierarchy as `make deploy` installs it: the admission
	// policies and the Case webhook, which the manager serves.
	webhookAddr, err := freeLoopback()
	if err != nil {
		return err
	}
	if err := installAccess(ctx, s.cl, s.o.Repo, webhookAddr); err != nil {
		return err
	}
	mgrCfg, err := managerConfig(s.env)
	if err != nil {
		return err
	}
	cached, err := startManager(ctx, mgrCfg, scheme, s.clock, s.collectors, s.inboxURL, webhookAddr, filepath.Join(s.o.DataDir, "webhook"), s.log, &s.background, s.mgrErr)
	if err != nil {
		return err
	}
	if err := s.program.Apply(ctx, s.cl, s.o.Namespace); err != nil {
		return err
	}
	s.out.Printf("applied the sample program (%d objects) in namespace %s; channels point at the local sinks\n", len(s.program.Objects), s.o.Namespace)
	if err := grantPeople(ctx, s.cl, scheme, s.o.Namespace, s.o.Repo); err != nil {
		return err
	}
	if err := s.collectors.Start(ctx, s.cfg, s.cl, s.o.Namespace, s.o.DataDir, s.clock.Now, s.log.WithName("collector")); err != nil {
		return err
	}
	for _, name := range s.touchpoints {
		ep := s.collectors.Endpoints()[name]
		s.out.Printf("collector of %s serving at %s, private API at %s (SQLite in collectors/%s)\n", name, ep.Public, ep.Private.Endpoint, name)
	}
	s.printSignIn()
	// The manager's cache: wake lists every Case each tick.
	if !s.o.NoTeam {
		s.team = &team{seed: s.o.Seed, inbox: newInboxClient(s.inboxURL), worked: map[string]bool{}}
	}
	// Wake the controllers every simulated hour at the final speed, at
	// most every second and at least every 200 ms.
	tick := min(max(time.Duration(float64(time.Hour)/s.o.Speed), 200*time.Millisecond), time.Second)
	s.background.Go(func() { wake(ctx, cached, s.o.Namespace, s.clock, tick, s.team, s.log) })
	return nil
}

// simulate replays the responses, lets the simulated time pass, runs the
// report and gathers the summary, printing progress meanwhile.
func (s *session) simulate(ctx context.Context) (*Summary, error) {
	touchpoints, err := liveTouchpoints(ctx, s.cl, s.o.Namespace, s.touchpoints)
	if err != nil {
		return nil, err
	}
	s.out.Printf("replaying %d responses (seed %d) through the collectors' API ...\n", s.o.Responses, s.o.Seed)
	stats := &Stats{}
	progressCtx, stopProgress := context.WithCancel(ctx)
	var progressDone sync.WaitGroup
	progressDone.Go(func() { progress(progressCtx, s.out, s.cl, s.o.Namespace, s.clock, stats, s.inbox, s.o.Responses) })
	defer func() {
		stopProgress()
		progressDone.Wait()
	}()
	// The customers of business events: their events go in now (the
	// invitations of the last days' downloads are due at once) and as
	// they happen on the simulated clock.
	custs := newCustomers(s.o.Seed, s.o.Customers, touchpoints, s.collectors.Endpoints(), s.clock)
	if custs != nil {
		s.custs.Store(custs)
		s.background.Go(func() { custs.run(ctx) })
		s.out.Printf("%d customers invited on business events: events to the collectors' POST /v1/events, invitations to the SMTP and SMS sinks\n", s.o.Customers)
	}
	gen := NewGenerator(s.o.Seed, touchpoints, 2*s.o.Responses+100)
	if err := Replay(ctx, gen, s.collectors.Endpoints(), s.o.Responses, s.o.Workers, stats); err != nil {
		return nil, err
	}
	s.clock.Accelerate(s.o.Speed)
	s.out.Printf("responses in; the clock now runs %gx (a simulated hour every %s) until %s have passed\n",
		s.o.Speed, s.clock.RealDuration(time.Hour).Round(time.Millisecond), formatElapsed(s.o.Simulate))
	idle := func() bool { return custs == nil || custs.idle(s.clock.Now()) }
	if err := settle(ctx, s.clock, s.o.Simulate, s.collectors, idle, s.mgrErr); err != nil {
		return nil, err
	}
	reportPath, err := runReport(ctx, s.cl, s.o.Namespace, s.clock, s.o.DataDir)
	if err != nil {
		return nil, err
	}
	stopProgress()
	progressDone.Wait()
	sum, err := gather(ctx, s.cl, s.o.Namespace, s.clock, s.collectors, touchpoints, stats, s.inbox, reportPath)
	if err != nil {
		return nil, err
	}
	if custs != nil {
		sum.Customers = custs.Counts()
	}
	sum.Seed = s.o.Seed
	if s.team != nil {
		sum.WorkedInInbox = s.team.Worked()
	}
	return sum, nil
}

// startManager runs the manager with every controller, on the demo's
// clock, with the real notifier and the in-process collectors' endpoints,
// and returns its (cached) client. Its error (it stopped before ctx
// ended) goes to errc.
func startManager(ctx context.Context, cfg *rest.Config, scheme *k8sruntime.Scheme, clock *Clock, collectors *Collectors, baseURL, webhookAddr, certDir string, log logr.Logger, wg *sync.WaitGroup, errc chan<- error) (client.Client, error) {
	host, port, err := net.SplitHostPort(webhookAddr)
	if err != nil {
		return nil, err
	}
	portNum, _ := strconv.Atoi(port)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 log.WithName("manager"),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          ctrlwebhook.NewServer(ctrlwebhook.Options{Host: host, Port: portNum, CertDir: certDir}),
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	// Actions are dated on the demo's clock, which runs ahead of the wall
	// clock and so fast that two minutes pass in a few milliseconds: the
	// skew allowed is two simulated days (half a minute of real time at
	// the default speed, some seconds on a loaded machine at the test's).
	if err := cxwebhook.Add(ctx, mgr, &cxwebhook.Certificates{
		Namespace: managerNS, SecretName: accessPrefix + "webhook-cert", WebhookConfiguration: accessPrefix + "case-audit",
		CertDir: certDir, IPs: []net.IP{net.ParseIP(host)},
	}, &cxwebhook.CaseAudit{Now: clock.Now, Skew: 48 * time.Hour}); err != nil {
		return nil, fmt.Errorf("case webhook: %w", err)
	}
	deliverer := notify.NewWithSecretReader(mgr.GetClient(), mgr.GetAPIReader(), notify.Options{
		Now: clock.Now, Log: log.WithName("notify"),
	})
	if err := controllers.SetupWithManager(mgr, controllers.Options{
		// No pods run: the demo runs the collectors in this process.
		CollectorImage:       "ghcr.io/cxloop/cxloop:demo",
		CollectorEndpoint:    collectors.Endpoint,
		CollectorStatusEvery: 2 * time.Second,
		Now:                  clock.Now,
		Deliverer:            deliverer,
		// Closed Cases past their template's retention go to the store of
		// their touchpoint's in-process collector.
		CaseArchiver: &controllers.CollectorArchiver{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Endpoint: collectors.Endpoint},
		// Case links in notifications open the Case in the demo's inbox.
		NotificationBaseURL: baseURL,
	}); err != nil {
		return nil, err
	}
	wg.Go(func() {
		if err := mgr.Start(ctx); err != nil {
			errc <- fmt.Errorf("manager stopped: %w", err)
		}
	})
	return mgr.GetClient(), nil
}

// writeKubeconfig writes a kubeconfig of a cluster admin for kubectl.
func writeKubeconfig(env *envtest.Environment, path string) error {
	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("provision the kubectl user: %w", err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("render kubeconfig: %w", err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// liveTouchpoints reads the named touchpoints, in that order.
func liveTouchpoints(ctx context.Context, cl client.Client, namespace string, names []string) ([]cxv1alpha1.SurveyTouchpoint, error) {
	out := make([]cxv1alpha1.SurveyTouchpoint, 0, len(names))
	for _, name := range names {
		var tp cxv1alpha1.SurveyTouchpoint
		if err := cl.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &tp); err != nil {
			return nil, fmt.Errorf("read touchpoint %s: %w", name, err)
		}
		out = append(out, tp)
	}
	return out, nil
}

// printer serialises writes to the output.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = fmt.Fprintf(p.w, format, args...)
}

// printSignIn prints the inbox's sign-in links: each opens the inbox as a
// demo person through a local stand-in for the authenticating proxy.
func (s *session) printSignIn() {
	s.out.Printf("case inbox: open it in a browser, signed in as\n")
	for _, p := range demoPeople {
		s.out.Printf("  %-12s (%s): %s/cases\n", p.user, p.role, s.signIn[p.user])
	}
}
