package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/notify"
	cxscheme "github.com/cxloop/cxloop/internal/scheme"
	"github.com/cxloop/cxloop/internal/store"
	"github.com/cxloop/cxloop/internal/validate"
)

// The per-client rate limit of the public surface without
// spec.collector.rateLimit.
const (
	DefaultRateLimit = 20
	DefaultRateBurst = 40
)

// RunOptions configure Run.
type RunOptions struct {
	// Kube is the API server configuration; nil serves the configuration
	// file's snapshot without following the touchpoint (tests, demo).
	Kube *rest.Config
	// Listener and PrivateListener, when set, are used instead of
	// listening on the configured addresses of the public and the private
	// surface (tests pass loopback listeners on free ports).
	Listener        net.Listener
	PrivateListener net.Listener
	// StoreDSN is the PostgreSQL connection string (store "postgres").
	StoreDSN string
	// SigningKey signs and checks invitation tokens.
	SigningKey []byte
	// APIToken and ProgramAPIToken are the credentials of the private
	// surface (Options).
	APIToken        []byte
	ProgramAPIToken []byte
	// ShutdownTimeout bounds draining in-flight requests (default 25s, under
	// the pod's 30s grace period).
	ShutdownTimeout time.Duration
	// RetentionEvery is how often retention runs (default 1h).
	RetentionEvery time.Duration
	// RateLimit and RateBurst per client; from spec.collector.rateLimit when
	// zero.
	RateLimit float64
	RateBurst int
	// MaxInflightBytes bounds request bytes in flight (Options; 0: from
	// the container's memory limit).
	MaxInflightBytes int64
	// Profiling serves Go's runtime profiles on the private surface
	// (Options.Profiling; --profiling).
	Profiling bool
	// Registerer for Prometheus metrics (default: a new registry).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MatchReportEvery is how often rules' status.matches is updated
	// (default 10s).
	MatchReportEvery time.Duration
	// PublicURL overrides spec.survey.publicURL (Options.PublicURL).
	PublicURL string
	// DistributionEvery is how often due invitations are looked for
	// (default 30s; an event that schedules one wakes the sender at once).
	DistributionEvery time.Duration
	// CustomerSender overrides the sender of invitations (default: the
	// NotificationChannels through the API server).
	CustomerSender CustomerSender
	// PredictEvery is how often the touchpoint's prediction is trained when
	// due and unanswered interactions are scored (default
	// DefaultPredictEvery).
	PredictEvery time.Duration
	// DispatchWorkers drain the outbox concurrently (default
	// DefaultDispatchWorkers).
	DispatchWorkers int
	Log             logr.Logger
}

// Run serves one touchpoint until ctx is done, then drains in-flight
// requests, flushes the store and returns.
func Run(ctx context.Context, cfg *FileConfig, opts RunOptions) error {
	log := opts.Log.WithValues("namespace", cfg.Namespace, "touchpoint", cfg.Touchpoint)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 25 * time.Second
	}
	if opts.RetentionEvery == 0 {
		opts.RetentionEvery = time.Hour
	}
	if opts.MatchReportEvery == 0 {
		opts.MatchReportEvery = 10 * time.Second
	}
	tp := cfg.SnapshotTouchpoint()
	if rl := tp.Spec.Collector; opts.RateLimit == 0 && rl != nil && rl.RateLimit != nil {
		opts.RateLimit, opts.RateBurst = float64(rl.RateLimit.RequestsPerSecond), int(rl.RateLimit.Burst)
	}
	// The public surface is rate-limited per client by default.
	if opts.RateLimit == 0 {
		opts.RateLimit, opts.RateBurst = DefaultRateLimit, DefaultRateBurst
	}
	if opts.Registerer == nil {
		reg := newRegistry()
		opts.Registerer, opts.Gatherer = reg, reg
	}

	var srv *Server
	storeCfg := store.Config{Namespace: cfg.Namespace, Touchpoint: cfg.Touchpoint, Now: opts.Now, OnCommit: func(c store.CommitStats) {
		if srv != nil {
			srv.ObserveCommit(c)
		}
	}}
	switch cfg.Store {
	case "sqlite":
		storeCfg.Driver, storeCfg.Path = store.DriverSQLite, cfg.SQLitePath
	case "postgres":
		storeCfg.Driver, storeCfg.DSN = store.DriverPostgres, opts.StoreDSN
		if storeCfg.DSN == "" {
			return fmt.Errorf("the postgres store needs a DSN (%s)", EnvStoreDSN)
		}
	}
	st, err := store.Open(ctx, storeCfg)
	if err != nil {
		return fmt.Errorf("open %s store: %w", cfg.Store, err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error(err, "close store")
		}
	}()

	var disp *Dispatcher
	srv, err = NewServer(tp, Options{
		Namespace: cfg.Namespace, Store: st, SigningKey: opts.SigningKey, APIToken: opts.APIToken, ProgramAPIToken: opts.ProgramAPIToken, Now: opts.Now,
		RateLimit: opts.RateLimit, RateBurst: opts.RateBurst, MaxInflightBytes: opts.MaxInflightBytes, PublicURL: opts.PublicURL, CustomerSender: opts.CustomerSender,
		Profiling:  opts.Profiling,
		Registerer: opts.Registerer, Gatherer: opts.Gatherer, Log: log,
		OnActions: func() {
			if disp != nil {
				disp.Wake()
			}
		},
		OutboxFailure: func() OutboxFailure {
			if disp != nil {
				return disp.LastFailure()
			}
			return OutboxFailure{}
		},
	})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var background sync.WaitGroup
	// Stop the background work before the store closes (deferred above,
	// so it runs after this).
	defer background.Wait()
	defer cancel()
	if opts.Kube != nil {
		kc, err := NewKubeClient(opts.Kube)
		if err != nil {
			return err
		}
		kcache, err := follow(ctx, opts.Kube, cfg.Namespace, cfg.Touchpoint, srv, log)
		if err != nil {
			return err
		}
		// The outbox retries with its own backoff: one attempt per claim
		// keeps a failing channel from holding a worker.
		notifier := notify.New(kc, notify.Options{MaxAttempts: 1, Registerer: opts.Registerer, Log: log.WithName("notify")})
		disp = NewDispatcher(DispatcherOptions{
			Store: st, Client: kc, Templates: kcache, Notifier: notifier, Now: opts.Now, Workers: opts.DispatchWorkers,
			Registerer: opts.Registerer, Log: log.WithName("dispatcher"),
		})
		background.Go(func() { disp.Run(ctx) })
		if srv.opts.CustomerSender == nil {
			srv.opts.CustomerSender = notifier
		}
		if srv.opts.Cases == nil {
			srv.opts.Cases = kc
		}
		background.Go(func() { reportMatches(ctx, kc, cfg.Namespace, &srv.matches, opts.MatchReportEvery, log) })
	} else {
		log.Info("standalone: no API server, so rule actions stay in the outbox until a collector with API access drains it")
	}
	background.Go(func() { runRetention(ctx, srv, st, opts.RetentionEvery, log) })
	background.Go(func() { srv.RunPredictions(ctx, opts.PredictEvery, log.WithName("predict")) })
	if opts.DistributionEvery == 0 {
		opts.DistributionEvery = 30 * time.Second
	}
	if srv.opts.CustomerSender != nil {
		background.Go(func() { srv.RunDistribution(ctx, opts.DistributionEvery) })
	}

	return serve(ctx, cfg, opts, srv, log)
}

// serve runs the public and the private surface until ctx is done, then
// drains both.
func serve(ctx context.Context, cfg *FileConfig, opts RunOptions, srv *Server, log logr.Logger) error {
	surfaces := []struct {
		name    string
		lis     net.Listener
		addr    string
		handler http.Handler
	}{
		{"public", opts.Listener, cfg.ListenAddress, srv.PublicHandler()},
		{"private", opts.PrivateListener, cfg.PrivateListenAddress, srv.PrivateHandler()},
	}
	servers := make([]*http.Server, 0, len(surfaces))
	serveErr := make(chan error, len(surfaces))
	for _, sf := range surfaces {
		lis := sf.lis
		if lis == nil {
			var err error
			if lis, err = net.Listen("tcp", sf.addr); err != nil {
				for _, hs := range servers {
					_ = hs.Close()
				}
				return fmt.Errorf("listen on %s for the %s surface: %w", sf.addr, sf.name, err)
			}
		}
		hs := &http.Server{
			Handler:           sf.handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       60 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
		}
		servers = append(servers, hs)
		go func() { serveErr <- hs.Serve(lis) }()
		log.Info("collector serving", "surface", sf.name, "address", lis.Addr().String(), "store", cfg.Store)
	}
	var failed error
	select {
	case err := <-serveErr:
		failed = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout", opts.ShutdownTimeout)
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancelShutdown()
	var errs []error
	for _, hs := range servers {
		if err := hs.Shutdown(shutdownCtx); err != nil {
			errs = append(errs, fmt.Errorf("drain requests: %w", err))
		}
	}
	if failed != nil {
		return failed
	}
	for range servers {
		if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// follow watches the touchpoint (only it: the collector's Role grants this
// one name) and the namespace's AlertRules, and switches the server to each
// new generation of either. It returns the cache, which the dispatcher
// also reads CaseTemplates from.
func follow(ctx context.Context, kube *rest.Config, namespace, name string, srv *Server, log logr.Logger) (client.Reader, error) {
	c, err := cache.New(kube, cache.Options{
		Scheme:            cxscheme.New(),
		DefaultNamespaces: map[string]cache.Config{namespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&cxv1alpha1.SurveyTouchpoint{}: {Field: fields.OneTermEqualSelector("metadata.name", name)},
			// The Cases this touchpoint opened: their closing owes the
			// customer the follow-up.
			&cxv1alpha1.Case{}: {Label: labels.SelectorFromSet(labels.Set{cxv1alpha1.LabelTouchpoint: name})},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create touchpoint cache: %w", err)
	}
	inf, err := c.GetInformer(ctx, &cxv1alpha1.SurveyTouchpoint{})
	if err != nil {
		return nil, fmt.Errorf("touchpoint informer: %w", err)
	}
	apply := func(obj any) {
		tp, ok := obj.(*cxv1alpha1.SurveyTouchpoint)
		if !ok || tp.Name != name {
			return
		}
		if cur := srv.state.Load(); cur != nil && cur.tp.Generation == tp.Generation && cur.tp.UID == tp.UID {
			return
		}
		if err := srv.SetTouchpoint(tp); err != nil {
			log.Error(err, "touchpoint change not applied; serving the previous version", "generation", tp.Generation)
			return
		}
		log.Info("following touchpoint", "generation", tp.Generation)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    apply,
		UpdateFunc: func(_, obj any) { apply(obj) },
	}); err != nil {
		return nil, fmt.Errorf("watch touchpoint: %w", err)
	}
	ruleInf, err := c.GetInformer(ctx, &cxv1alpha1.AlertRule{})
	if err != nil {
		return nil, fmt.Errorf("alert rule informer: %w", err)
	}
	var lastActive string
	reloadRules := func(any) {
		var list cxv1alpha1.AlertRuleList
		if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
			log.Error(err, "list alert rules")
			return
		}
		skipped := srv.SetAlertRules(list.Items)
		if active := strings.Join(srv.ActiveRules(), ","); active != lastActive {
			lastActive = active
			log.Info("evaluating alert rules", "rules", srv.ActiveRules(), "skipped", skipped)
		}
	}
	if _, err := ruleInf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    reloadRules,
		UpdateFunc: func(_, obj any) { reloadRules(obj) },
		DeleteFunc: reloadRules,
	}); err != nil {
		return nil, fmt.Errorf("watch alert rules: %w", err)
	}
	caseInf, err := c.GetInformer(ctx, &cxv1alpha1.Case{})
	if err != nil {
		return nil, fmt.Errorf("case informer: %w", err)
	}
	if err := srv.FollowCases(ctx, caseInf, c); err != nil {
		return nil, err
	}
	go func() {
		if err := c.Start(ctx); err != nil {
			log.Error(err, "touchpoint cache stopped")
		}
	}()
	syncCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if !c.WaitForCacheSync(syncCtx) {
		// Serve the snapshot; the informer keeps trying in the background.
		log.Info("API server not reachable yet; serving the configuration snapshot until it is")
	}
	return c, nil
}

// doneActionsKept is how long a done outbox action stays in the store:
// a day to look at what the outbox just did, far longer than any lease a
// slow dispatcher could still complete.
const doneActionsKept = 24 * time.Hour

// runRetention deletes old responses and erases contact details on a
// timer, in bounded batches (the store's), until ctx is done.
func runRetention(ctx context.Context, srv *Server, st store.Store, every time.Duration, log logr.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		srv.applyRetention(ctx, st, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) applyRetention(ctx context.Context, st store.Store, log logr.Logger) {
	cur := s.state.Load()
	now := s.opts.Now()
	responses, contacts := 8760*time.Hour, 2160*time.Hour
	archive := time.Duration(0)
	if r := cur.tp.Spec.Retention; r != nil {
		if r.Responses != nil {
			responses = r.Responses.Duration
		}
		if r.ContactDetails != nil {
			contacts = r.ContactDetails.Duration
		}
		if r.Archive != nil {
			archive = r.Archive.Duration
		}
	}
	if archive <= 0 {
		archive = responses
	}
	// With a shared store every collector of the program purges the
	// program's archive: the shortest retention of its touchpoints wins.
	if n, err := st.DeleteArchivedCasesBefore(ctx, s.opts.Namespace, now.Add(-archive)); err != nil {
		log.Error(err, "retention: delete old archived Cases")
	} else if n > 0 {
		log.Info("retention: deleted archived Cases", "count", n, "closedBefore", archive)
	}
	if n, err := st.DeleteResponsesBefore(ctx, cur.tp.Name, now.Add(-responses)); err != nil {
		log.Error(err, "retention: delete old responses")
	} else if n > 0 {
		log.Info("retention: deleted responses", "count", n, "olderThan", responses)
	}
	// Events and predicted scores go with the responses' retention.
	if ev, pr, err := st.DeletePredictionsBefore(ctx, s.opts.Namespace, cur.tp.Name, now.Add(-responses)); err != nil {
		log.Error(err, "retention: delete old events and predicted scores")
	} else if ev+pr > 0 {
		log.Info("retention: deleted events and predicted scores", "events", ev, "predictions", pr, "olderThan", responses)
	}
	// The case ledger forgets throttle places out of the window and dedup
	// Cases whose window ended.
	if n, err := st.PruneCaseLedger(ctx, s.opts.Namespace, now); err != nil {
		log.Error(err, "retention: prune the case ledger")
	} else if n > 0 {
		log.Info("retention: pruned the case ledger", "rows", n)
	}
	// A done outbox action is only the record that its effect happened
	// (the Case exists, the message went out): a response or predicted
	// score sent again is recognised by its own row, which keeps the
	// responses' retention, so it never writes its actions twice.
	if n, err := st.DeleteCompletedActionsBefore(ctx, now.Add(-doneActionsKept)); err != nil {
		log.Error(err, "retention: delete done outbox actions")
	} else if n > 0 {
		log.Info("retention: deleted done outbox actions", "count", n, "doneBefore", doneActionsKept)
	}
	// A sent invitation keeps its contact details until its link expires
	// (for the acknowledgement of a Case its answer opens).
	if n, err := st.EraseExpiredContacts(ctx, s.opts.Namespace, now); err != nil {
		log.Error(err, "retention: erase contact details of expired invitations")
	} else if n > 0 {
		log.Info("retention: erased contact details of expired invitations", "count", n)
	}
	// A follow-up whose Case did not close in time gives up its copy.
	if n, err := st.ExpireFollowUps(ctx, s.opts.Namespace, now); err != nil {
		log.Error(err, "retention: expire follow-ups of Cases still open")
	} else if n > 0 {
		log.Info("retention: follow-ups expired before their Case closed", "count", n)
	}
	// Sent digests are kept a week, to answer "was it sent?".
	if _, err := st.DeleteDigestsBefore(ctx, now.Add(-7*24*time.Hour)); err != nil {
		log.Error(err, "retention: delete sent digests")
	}
	if n, err := st.EraseContactDetails(ctx, cur.tp.Name, now.Add(-contacts), func(k string) bool {
		return validate.IsContactKey(k, validate.ExtraContactKeys(cur.tp))
	}); err != nil {
		log.Error(err, "retention: erase contact details")
	} else if n > 0 {
		log.Info("retention: erased contact details", "responses", n, "olderThan", contacts)
	}
}
