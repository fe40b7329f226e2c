package inbox

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the inbox.
type Options struct {
	// Config is the inbox's own identity: it needs list/watch on Cases and
	// CaseTemplates (the list cache) and impersonate on users and groups.
	Config *rest.Config
	Scheme *runtime.Scheme
	// Auth says which proxy to trust and which headers carry the person.
	Auth ProxyAuth
	// CSRFKey signs the forms' tokens; replicas behind one Service need the
	// same key. Empty: a random key (one replica).
	CSRFKey []byte
	// Namespaces limits the cache to these namespaces; empty: all.
	Namespaces []string
	// Clock is the time the inbox reads deadlines against and stamps
	// actions with; default time.Now.
	Clock func() time.Time
	Log   logr.Logger
}

// Server is the inbox web application.
type Server struct {
	opts   Options
	cache  cache.Cache
	board  *board
	im     *impersonator
	access *accessCache
	perms  permCache
	pages  *template.Template
	csrf   []byte
}

// New builds the inbox; Start runs its cache.
func New(opts Options) (*Server, error) {
	if opts.Config == nil || opts.Scheme == nil {
		return nil, errors.New("inbox: Config and Scheme are required")
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if len(opts.CSRFKey) == 0 {
		opts.CSRFKey = make([]byte, 32)
		if _, err := rand.Read(opts.CSRFKey); err != nil {
			return nil, err
		}
	}
	hc, err := rest.HTTPClientFor(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("inbox: API client: %w", err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(opts.Config, hc)
	if err != nil {
		return nil, fmt.Errorf("inbox: REST mapper: %w", err)
	}
	copts := cache.Options{
		Scheme: opts.Scheme, Mapper: mapper, HTTPClient: hc,
		DefaultTransform: cache.TransformStripManagedFields(),
	}
	if len(opts.Namespaces) > 0 {
		copts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range opts.Namespaces {
			copts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	ca, err := cache.New(opts.Config, copts)
	if err != nil {
		return nil, fmt.Errorf("inbox: cache: %w", err)
	}
	im, err := newImpersonator(opts.Config, opts.Scheme, mapper)
	if err != nil {
		return nil, err
	}
	pages, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("inbox: templates: %w", err)
	}
	s := &Server{opts: opts, cache: ca, board: newBoard(), im: im, access: &accessCache{im: im, entries: map[string]accessEntry{}},
		pages: pages, csrf: opts.CSRFKey}
	return s, nil
}

func (s *Server) now() time.Time { return s.opts.Clock() }

// Start runs the cache until ctx ends; it returns once the cache has
// synced (or failed to).
func (s *Server) Start(ctx context.Context) error {
	ci, err := s.cache.GetInformer(ctx, &cxv1alpha1.Case{})
	if err != nil {
		return fmt.Errorf("inbox: Case informer: %w", err)
	}
	if _, err := ci.AddEventHandler(s.board.caseHandler()); err != nil {
		return err
	}
	ti, err := s.cache.GetInformer(ctx, &cxv1alpha1.CaseTemplate{})
	if err != nil {
		return fmt.Errorf("inbox: CaseTemplate informer: %w", err)
	}
	if _, err := ti.AddEventHandler(s.board.templateHandler()); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.cache.Start(ctx) }()
	if !s.cache.WaitForCacheSync(ctx) {
		select {
		case err := <-errc:
			return fmt.Errorf("inbox: cache: %w", err)
		default:
			return errors.New("inbox: cache did not sync")
		}
	}
	return nil
}

// Cache is the informer cache the lists are served from (for benchmarks
// and tests that compare against it).
func (s *Server) Cache() cache.Cache { return s.cache }

// contentSecurityPolicy allows only the inbox's own script, style and
// connections: no inline script, no framing, forms post only here.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves the inbox. Every route but /healthz and /static needs an
// identity from the trusted proxy.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/cases", http.StatusSeeOther) })
	mux.Handle("GET /cases", s.person(s.serveList))
	mux.Handle("GET /overview", s.person(s.serveOverview))
	mux.Handle("GET /namespaces/{ns}/cases/{name}", s.person(s.serveCase))
	mux.Handle("POST /namespaces/{ns}/cases/{name}/{op}", s.person(s.serveChange))
	mux.Handle("GET /events", s.person(s.serveEvents))
	cop := http.NewCrossOriginProtection()
	return securityHeaders(cop.Handler(mux))
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

type personHandler func(w http.ResponseWriter, r *http.Request, id Identity)

// person authenticates the request from the proxy's headers.
func (s *Server) person(h personHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.opts.Auth.Identify(r)
		if err != nil {
			s.opts.Log.V(1).Info("refused a request without a trusted identity", "remote", r.RemoteAddr, "reason", err.Error())
			http.Error(w, "Sign in through the inbox's address (the authenticating proxy): "+err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Cache-Control", "private, no-store")
		w.Header().Set("Vary", "Cookie, Authorization")
		h(w, r, id)
	})
}

// page is the data every page template gets.
type page struct {
	Title   string
	Nav     string
	Me      Identity
	CSRF    string
	Now     time.Time
	Error   string
	Live    string // what the page's live updates watch: "list" or "<ns>/<name>"
	Query   Query
	List    *ListResult
	Ov      *Overview
	Manages bool
	Case    *CaseView
	// Form errors by form name, and the values to show again.
	FormError map[string]string
	Form      url.Values
}

func (s *Server) render(w http.ResponseWriter, status int, name string, p *page) {
	p.Now = s.now()
	var b strings.Builder
	if err := s.pages.ExecuteTemplate(&b, name, p); err != nil {
		s.opts.Log.Error(err, "render page", "template", name)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) newPage(id Identity, title, nav string) *page {
	return &page{Title: title, Nav: nav, Me: id, CSRF: csrfToken(s.csrf, id)}
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, id Identity) {
	q := parseQuery(r.URL.Query())
	titles := map[View]string{ViewMine: "My open Cases", ViewTeam: "My teams' open Cases", ViewAll: "All Cases"}
	p := s.newPage(id, titles[q.View], string(q.View))
	p.Query, p.Live = q, "list"
	res, err := s.list(r.Context(), id, q)
	if err != nil {
		p.Error = err.Error()
		s.render(w, http.StatusBadGateway, "list.html", p)
		return
	}
	p.List = &res
	s.render(w, http.StatusOK, "list.html", p)
}

func (s *Server) serveOverview(w http.ResponseWriter, r *http.Request, id Identity) {
	p := s.newPage(id, "Overview", "overview")
	p.Live = "list"
	ov, manages, err := s.overview(r.Context(), id)
	if err != nil {
		p.Error = err.Error()
		s.render(w, http.StatusBadGateway, "overview.html", p)
		return
	}
	p.Ov, p.Manages = &ov, manages
	s.render(w, http.StatusOK, "overview.html", p)
}

func (s *Server) serveCase(w http.ResponseWriter, r *http.Request, id Identity) {
	s.showCase(w, r, id, http.StatusOK, nil, nil)
}

// showCase renders the Case page, with a form's error next to it.
func (s *Server) showCase(w http.ResponseWriter, r *http.Request, id Identity, status int, formErr map[string]string, form url.Values) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	p := s.newPage(id, "Case "+name, "")
	p.Live, p.FormError, p.Form = ns+"/"+name, formErr, form
	v, err := s.loadCase(r.Context(), id, ns, name)
	if err != nil {
		p.Error = apiMessage(err)
		s.render(w, statusOf(err), "case.html", p)
		return
	}
	p.Case = v
	if v.Case.Spec.Title != "" {
		p.Title = v.Case.Spec.Title
	}
	s.render(w, status, "case.html", p)
}

// Serve serves the inbox on the listener until ctx ends, then drains
// requests for up to 5 s (live event streams end at once).
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	return nil
}
