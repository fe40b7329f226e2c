package textanalytics

import (
	"strings"
	"sync"
	"testing"
)

func TestSentiment(t *testing.T) {
	a := NewAnalyzer()
	tests := []struct {
		name     string
		text     string
		min, max float64
	}{
		{"positive", "The upgrade was easy and the new dashboard is great", 0.5, 1},
		{"strongly positive with emphasis", "Great support, very helpful!!! 😀", 0.8, 1},
		{"negative", "The installer is terrible and the docs are useless", -1, -0.5},
		{"neutral", "I installed version 4.2 on Tuesday.", 0, 0},
		// VADER dampens and flips a negated word: "easy" alone is +0.44.
		{"negated", "not easy at all", -0.5, -0.2},
		{"negated negative", "not bad", 0.2, 0.6},
		{"but shifts weight to the second clause", "Easy install but the license key was terrible", -1, -0.2},
		{"empty", "", 0, 0},
		{"blank", " \n\t ", 0, 0},
		// VADER knows English only: other languages score 0, or worse, by
		// English look-alikes (German "Die Installation war einfach" is -0.83).
		{"other languages mostly neutral", "La instalación fue fácil", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := a.Sentiment(tt.text)
			if got < tt.min || got > tt.max {
				t.Errorf("Sentiment(%q) = %.4f, want in [%g, %g]", tt.text, got, tt.min, tt.max)
			}
		})
	}
}

// The values VADER's reference implementation gives, to catch a dependency
// update that changes the scores.
func TestSentimentReferenceValues(t *testing.T) {
	a := NewAnalyzer()
	for text, want := range map[string]float64{
		"It was easy":     0.4404,
		"not easy at all": -0.3412,
		"Not bad":         0.4310,
	} {
		if got := a.Sentiment(text); !near(got, want, 5e-5) {
			t.Errorf("Sentiment(%q) = %.4f, want %.4f", text, got, want)
		}
	}
}

func TestSentimentWhitespaceIsNormalised(t *testing.T) {
	a := NewAnalyzer()
	want := a.Sentiment("Easy install but the license key was terrible")
	for _, text := range []string{
		"Easy\ninstall but\tthe license key was terrible",
		"  Easy install  but the license\r\nkey was terrible  ",
		"Easy\u00a0install but the license key was terrible", // no-break space
	} {
		if got := a.Sentiment(text); got != want {
			t.Errorf("Sentiment(%q) = %.4f, want %.4f as with single spaces", text, got, want)
		}
	}
}

func TestNormalizeSpace(t *testing.T) {
	for in, want := range map[string]string{
		"":            "",
		"a b":         "a b",
		" a":          "a",
		"a ":          "a",
		"a  b":        "a b",
		"a\nb":        "a b",
		"é b":         "é b",
		"a\u2003b":    "a b",
		"\t\n":        "",
		"plain text.": "plain text.",
	} {
		if got := normalizeSpace(in); got != want {
			t.Errorf("normalizeSpace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSentimentConcurrent(t *testing.T) {
	a := NewAnalyzer()
	text := "The upgrade was easy, but the license key email never arrived"
	want := a.Sentiment(text)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if got := a.Sentiment(text); got != want {
					t.Errorf("concurrent Sentiment = %v, want %v", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSentimentLongTextStaysInRange(t *testing.T) {
	a := NewAnalyzer()
	for _, text := range []string{
		strings.Repeat("great ", 2000),
		strings.Repeat("awful ", 2000),
	} {
		if got := a.Sentiment(text); got < -1 || got > 1 {
			t.Errorf("Sentiment of a long text = %v, want within [-1, 1]", got)
		}
	}
}

// typicalComment is about 200 characters, the size of a common survey
// comment.
const typicalComment = "The upgrade itself was quick, but finding the license key took me almost an hour. " +
	"The docs were not clear and support never answered my email. Otherwise the new version is great!"

func BenchmarkSentiment(b *testing.B) {
	a := NewAnalyzer()
	b.SetBytes(int64(len(typicalComment)))
	b.ReportAllocs()
	for b.Loop() {
		a.Sentiment(typicalComment)
	}
}

func near(a, b, tol float64) bool {
	d := a - b
	return d <= tol && d >= -tol
}
