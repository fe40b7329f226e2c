package textanalytics

// Result is what text analytics found in one response, stored with it and
// seen by rules as sentiment and themes.
type Result struct {
	// Sentiment of the response's free text, -1..1; nil when the response
	// has no text or sentiment scoring is off.
	Sentiment *float64 `json:"sentiment,omitempty"`
	// Themes mentioned in the comment or a text answer: sorted, unique
	// theme names; nil when none.
	Themes []string `json:"themes,omitempty"`
}

// Analyze scores a response's comment and the answers to its Text questions.
//
// Sentiment is that of everything the customer wrote, the comment followed
// by the text answers, scored as one text (as VADER scores a short post of a
// few sentences): a one-word answer such as "no" weighs as one word, not as
// much as a whole comment. Blank texts are ignored; with no text at all
// Sentiment is nil, which rules and aggregates tell apart from a neutral 0.
//
// Themes are those found in any of the texts.
func (a *Analyzer) Analyze(comment string, textAnswers []string) Result {
	var r Result
	if a.sentiment {
		text := normalizeSpace(comment)
		for _, t := range textAnswers {
			if t = normalizeSpace(t); t != "" {
				if text != "" {
					text += " "
				}
				text += t
			}
		}
		if text != "" {
			s := a.sia.PolarityScores(text).Compound
			r.Sentiment = &s
		}
	}
	if a.themes != nil {
		texts := make([]string, 0, 1+len(textAnswers))
		texts = append(texts, comment)
		texts = append(texts, textAnswers...)
		r.Themes = a.themes.Match(texts...)
	}
	return r
}
