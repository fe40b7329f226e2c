package textanalytics

import (
	"strings"
	"sync"

	"github.com/jonreiter/govader"
)

// vader is the process-wide VADER analyzer. Building it decompresses and
// parses the embedded lexicon (a few milliseconds, about a megabyte), so it is
// done once, on first use, and shared: the analyzer is read-only afterwards.
var vader = sync.OnceValue(govader.NewSentimentIntensityAnalyzer)

// Analyzer scores the free text of responses: sentiment and, when it has a
// ThemeMatcher, themes. The zero value is not usable; call NewAnalyzer. An
// Analyzer is immutable and safe for concurrent use; build a new one when the
// touchpoint's text-analytics settings change (cheap: the lexicon is shared).
type Analyzer struct {
	sia       *govader.SentimentIntensityAnalyzer
	sentiment bool
	themes    *ThemeMatcher
}

// Option configures an Analyzer.
type Option func(*Analyzer)

// WithThemes makes Analyze detect the themes of m. A nil m detects none.
func WithThemes(m *ThemeMatcher) Option {
	return func(a *Analyzer) { a.themes = m }
}

// WithSentiment turns sentiment scoring in Analyze on (the default) or off
// (Result.Sentiment is then always nil). Sentiment itself always scores.
func WithSentiment(enabled bool) Option {
	return func(a *Analyzer) { a.sentiment = enabled }
}

// NewAnalyzer returns an Analyzer that scores sentiment and, with WithThemes,
// detects themes.
func NewAnalyzer(opts ...Option) *Analyzer {
	a := &Analyzer{sia: vader(), sentiment: true}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Sentiment returns the VADER compound score of text: from -1 (most
// negative) through 0 (neutral, or no sentiment-bearing word) to 1 (most
// positive). Empty or blank text scores 0. Negation ("not easy"), boosters
// ("very"), "but", capitals, exclamation marks and emoji are taken into
// account; words are not stemmed ("crashed" is not "crash").
func (a *Analyzer) Sentiment(text string) float64 {
	// VADER splits on single spaces only (Python's split() in the original
	// splits on any run of white space): normalise newlines, tabs and
	// repeated spaces so that "easy\ninstall" is two words.
	text = normalizeSpace(text)
	if text == "" {
		return 0
	}
	return a.sia.PolarityScores(text).Compound
}

// normalizeSpace trims text and turns every run of Unicode white space into a
// single ASCII space, allocating only when something changes.
func normalizeSpace(text string) string {
	clean := true
	prevSpace := true // a leading space is not clean
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= 0x80 { // non-ASCII: might be a Unicode space; take the slow path
			clean = false
			break
		}
		isSpace := c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
		if isSpace && (c != ' ' || prevSpace) {
			clean = false
			break
		}
		prevSpace = isSpace
	}
	if clean && !prevSpace {
		return text
	}
	return strings.Join(strings.Fields(text), " ")
}
