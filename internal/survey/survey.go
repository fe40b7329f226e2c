package survey

import (
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/text/language"

	cxv1alpha1 "github.com/cxloop/cxloop/api/v1alpha1"
	"github.com/cxloop/cxloop/internal/validate"
)

// Question is one question as the page shows it, in one locale.
type Question struct {
	ID   string
	Type cxv1alpha1.QuestionType
	Text string
	// Min, Max and their labels, for NPS, CSAT, CES and Rating questions.
	Min, Max           int
	MinLabel, MaxLabel string
	// Choices of a Choice question; Multiple when several may be picked.
	Choices  []Choice
	Multiple bool
	Required bool
	// MaxLength of a Text answer, 0 for the collector's default.
	MaxLength int
}

// Choice is one answer of a Choice question.
type Choice struct {
	Value, Label string
}

// Scaled reports whether the question is answered on a numeric scale.
func (q Question) Scaled() bool {
	switch q.Type {
	case cxv1alpha1.QuestionNPS, cxv1alpha1.QuestionCSAT, cxv1alpha1.QuestionCES, cxv1alpha1.QuestionRating:
		return true
	}
	return false
}

// Points returns the values of a scale, lowest first.
func (q Question) Points() []int {
	if !q.Scaled() {
		return nil
	}
	out := make([]int, 0, q.Max-q.Min+1)
	for v := q.Min; v <= q.Max; v++ {
		out = append(out, v)
	}
	return out
}

// Survey is a touchpoint's page in one locale.
type Survey struct {
	// Locale of the texts (BCP 47).
	Locale   string
	Title    string
	Intro    string
	ThankYou string
	// Questions in the touchpoint's order.
	Questions []Question
	// Comment is true when the touchpoint takes a free-text comment, of at
	// most CommentMax characters.
	Comment    bool
	CommentMax int
	// UI is the page's own wording in Locale.
	UI Strings
}

// Locales returns the locales tp's page is written in, the default first.
func Locales(tp *cxv1alpha1.SurveyTouchpoint) []string {
	out := []string{defaultLocale(tp)}
	if sp := tp.Spec.Survey; sp != nil {
		for _, t := range sp.Translations {
			out = append(out, t.Locale)
		}
	}
	return out
}

func defaultLocale(tp *cxv1alpha1.SurveyTouchpoint) string {
	if sp := tp.Spec.Survey; sp != nil && sp.DefaultLocale != "" {
		return sp.DefaultLocale
	}
	return "en"
}

// Negotiate picks the locale of the page among available (the default
// first): the invitation's locale when given and available (or a close
// match, "de-AT" for "de"), else the best match of the browser's
// Accept-Language header, else the default.
func Negotiate(available []string, invitation, acceptLanguage string) string {
	if invitation == "" && acceptLanguage == "" {
		return available[0]
	}
	m := matcherOf(available)
	for _, pref := range []string{invitation, acceptLanguage} {
		if pref == "" {
			continue
		}
		want, _, err := language.ParseAcceptLanguage(pref)
		if err != nil || len(want) == 0 {
			continue
		}
		if _, i, conf := m.Match(want...); conf >= language.Low {
			return available[i]
		}
	}
	return available[0]
}

// matchers caches a language matcher per list of available locales (a
// program has a few; at most maxMatchers are kept): building one costs
// more than rendering a page. A matcher is read-only once built.
var (
	matchers     sync.Map
	matcherCount atomic.Int64
)

const maxMatchers = 256

func matcherOf(available []string) language.Matcher {
	key := strings.Join(available, ",")
	if m, ok := matchers.Load(key); ok {
		if matcher, ok := m.(language.Matcher); ok {
			return matcher
		}
	}
	tags := make([]language.Tag, 0, len(available))
	for _, a := range available {
		tags = append(tags, language.Make(a))
	}
	m := language.NewMatcher(tags)
	if matcherCount.Load() < maxMatchers {
		if _, loaded := matchers.LoadOrStore(key, m); !loaded {
			matcherCount.Add(1)
		}
	}
	return m
}

// New returns tp's page in locale (one of Locales(tp)); texts a
// translation leaves out are the default locale's.
func New(tp *cxv1alpha1.SurveyTouchpoint, locale string) *Survey {
	s := &Survey{Locale: defaultLocale(tp), Title: tp.Spec.DisplayName, Comment: true, CommentMax: 2000}
	if s.Title == "" {
		s.Title = tp.Name
	}
	if c := tp.Spec.Comment; c != nil {
		s.Comment = c.Enabled
		if c.MaxLength > 0 {
			s.CommentMax = int(c.MaxLength)
		}
	}
	var tr *cxv1alpha1.SurveyTranslation
	if sp := tp.Spec.Survey; sp != nil {
		s.Title = firstNonEmpty(sp.Title, s.Title)
		s.Intro, s.ThankYou = sp.Intro, sp.ThankYou
		for i := range sp.Translations {
			if strings.EqualFold(sp.Translations[i].Locale, locale) {
				tr = &sp.Translations[i]
				s.Locale = tr.Locale
			}
		}
	}
	if tr != nil {
		s.Title = firstNonEmpty(tr.Title, s.Title)
		s.Intro = firstNonEmpty(tr.Intro, s.Intro)
		s.ThankYou = firstNonEmpty(tr.ThankYou, s.ThankYou)
	}
	s.UI = UIStrings(s.Locale)
	s.ThankYou = firstNonEmpty(s.ThankYou, s.UI.ThankYou)
	for _, q := range tp.Spec.Questions {
		s.Questions = append(s.Questions, localize(q, tr, s.UI))
	}
	return s
}

func localize(q cxv1alpha1.Question, tr *cxv1alpha1.SurveyTranslation, ui Strings) Question {
	out := Question{ID: q.ID, Type: q.Type, Text: q.Text, Multiple: q.AllowMultiple, Required: q.Required}
	if q.MaxLength != nil {
		out.MaxLength = int(*q.MaxLength)
	}
	if out.Scaled() {
		lo, hi := validate.QuestionScale(q)
		out.Min, out.Max = lo, hi
		if q.Scale != nil {
			out.MinLabel, out.MaxLabel = q.Scale.MinLabel, q.Scale.MaxLabel
		}
	}
	for _, c := range q.Choices {
		out.Choices = append(out.Choices, Choice{Value: c.Value, Label: firstNonEmpty(c.Label, c.Value)})
	}
	if tr != nil {
		for _, qt := range tr.Questions {
			if qt.ID != q.ID {
				continue
			}
			out.Text = firstNonEmpty(qt.Text, out.Text)
			out.MinLabel = firstNonEmpty(qt.MinLabel, out.MinLabel)
			out.MaxLabel = firstNonEmpty(qt.MaxLabel, out.MaxLabel)
			for _, ct := range qt.Choices {
				for i := range out.Choices {
					if out.Choices[i].Value == ct.Value && ct.Label != "" {
						out.Choices[i].Label = ct.Label
					}
				}
			}
		}
	}
	if q.Type == cxv1alpha1.QuestionNPS {
		out.MinLabel = firstNonEmpty(out.MinLabel, ui.NPSMin)
		out.MaxLabel = firstNonEmpty(out.MaxLabel, ui.NPSMax)
	}
	return out
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
