package collector

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/survey"
	"github.com/cxloop/cxloop/internal/textanalytics"
)

// state is everything derived from one generation of the touchpoint. It is
// rebuilt when the touchpoint changes and swapped in atomically, so a
// request sees one consistent version.
type state struct {
	tp        *cxv1alpha1.SurveyTouchpoint
	validator *Validator
	analyzer  *textanalytics.Analyzer
	policy    contactPolicy
	// rules are the per-response AlertRules selecting the touchpoint.
	rules *ruleSet
	// alertRules is the namespace's rules the set was compiled from, kept
	// to recompile when the touchpoint changes.
	alertRules []cxv1alpha1.AlertRule
	// trustedProxies may name the client in X-Forwarded-For.
	trustedProxies []netip.Prefix
	// locales are the survey page's locales (survey.Locales).
	locales []string
	// pages are the survey pages built so far, by locale: built once per
	// generation of the touchpoint (newState starts an empty cache; a copy
	// of the state for new rules keeps the touchpoint and shares it), not
	// once per message sent or page served.
	pages *sync.Map
	// invites renders the invitations of those pages (their HTML part
	// executed once per page and message text); shared as pages is.
	invites *survey.InvitationCache
}

// page is the touchpoint's survey page in locale (one of st.locales). The
// page is shared: callers read it and never change it.
func (st *state) page(locale string) *survey.Survey {
	if p, ok := st.pages.Load(locale); ok {
		if sv, ok := p.(*survey.Survey); ok {
			return sv
		}
	}
	p, _ := st.pages.LoadOrStore(locale, survey.New(st.tp, locale))
	sv, _ := p.(*survey.Survey)
	return sv
}

// contactPolicy is the touchpoint's contact-frequency rules with defaults.
type contactPolicy struct {
	samplingRate  float64
	quarantine    time.Duration
	maxCount      int
	maxWindow     time.Duration
	programScope  bool
	requireToken  bool
	tokenTTL      time.Duration
	invitationsOn bool
}

func newState(tp *cxv1alpha1.SurveyTouchpoint, alertRules []cxv1alpha1.AlertRule) (*state, error) {
	st := &state{tp: tp.DeepCopy(), validator: NewValidator(tp), alertRules: alertRules, locales: survey.Locales(tp), pages: &sync.Map{},
		invites: &survey.InvitationCache{}}
	if c := tp.Spec.Collector; c != nil {
		for _, cidr := range c.TrustedProxies {
			p, err := netip.ParsePrefix(cidr)
			if err != nil {
				return nil, fmt.Errorf("spec.collector.trustedProxies: %q is not a CIDR: %w", cidr, err)
			}
			st.trustedProxies = append(st.trustedProxies, p.Masked())
		}
	}
	rs, err := compileRules(tp, alertRules)
	if err != nil {
		return nil, err
	}
	st.rules = rs
	var opts []textanalytics.Option
	if ta := tp.Spec.TextAnalytics; ta != nil {
		opts = append(opts, textanalytics.WithSentiment(ta.Sentiment))
		if len(ta.Themes) > 0 {
			themes := make([]textanalytics.Theme, 0, len(ta.Themes))
			for _, th := range ta.Themes {
				themes = append(themes, textanalytics.Theme{Name: th.Name, Keywords: th.Keywords})
			}
			m, err := textanalytics.NewThemeMatcher(themes)
			if err != nil {
				return nil, fmt.Errorf("spec.textAnalytics.themes: %w", err)
			}
			opts = append(opts, textanalytics.WithThemes(m))
		}
	}
	st.analyzer = textanalytics.NewAnalyzer(opts...)

	p := contactPolicy{samplingRate: 1, tokenTTL: 168 * time.Hour}
	if cp := tp.Spec.ContactPolicy; cp != nil {
		if cp.SamplingRate != nil {
			p.samplingRate = *cp.SamplingRate
		}
		if cp.Quarantine != nil {
			p.quarantine = cp.Quarantine.Duration
		}
		if m := cp.MaxInvitations; m != nil {
			p.maxCount, p.maxWindow = int(m.Count), m.Window.Duration
		}
		p.programScope = cp.Scope == cxv1alpha1.ContactScopeProgram
	}
	if inv := tp.Spec.Invitations; inv != nil {
		p.invitationsOn = true
		p.requireToken = inv.RequireToken
		if inv.TokenTTL != nil {
			p.tokenTTL = inv.TokenTTL.Duration
		}
	}
	st.policy = p
	return st, nil
}

// textAnswers returns the answers to Text questions, for text analytics.
func (st *state) textAnswers(answers map[string]any) []string {
	var out []string
	for _, q := range st.tp.Spec.Questions {
		if q.Type != cxv1alpha1.QuestionText {
			continue
		}
		if s, ok := answers[q.ID].(string); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}
