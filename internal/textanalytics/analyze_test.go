package textanalytics

import (
	"slices"
	"testing"
)

func TestAnalyze(t *testing.T) {
	m, err := NewThemeMatcher(testThemes)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAnalyzer(WithThemes(m))
	tests := []struct {
		name          string
		comment       string
		answers       []string
		wantSentiment bool
		min, max      float64
		wantThemes    []string
	}{
		{name: "no text", wantSentiment: false},
		{name: "blank text", comment: "  ", answers: []string{"", "\n"}, wantSentiment: false},
		{name: "comment only", comment: "The installer is great", wantSentiment: true, min: 0.5, max: 1, wantThemes: []string{"install"}},
		{name: "answers only", answers: []string{"the docs are terrible"}, wantSentiment: true, min: -1, max: -0.3, wantThemes: []string{"docs"}},
		{name: "neutral text is 0, not nil", comment: "I used the manual.", wantSentiment: true, min: 0, max: 0, wantThemes: []string{"docs"}},
		{
			name:    "a short answer weighs little against the comment",
			comment: "Wonderful upgrade, the new installer is fast and easy, thank you",
			answers: []string{"no"}, wantSentiment: true, min: 0.7, max: 1, wantThemes: []string{"install"},
		},
		{
			name:    "themes from comment and answers",
			comment: "Where is my license key?", answers: []string{"refund please"},
			wantSentiment: true, min: -1, max: 1, wantThemes: []string{"licensing", "refund"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.Analyze(tt.comment, tt.answers)
			if (r.Sentiment != nil) != tt.wantSentiment {
				t.Fatalf("Sentiment = %v, want set: %v", r.Sentiment, tt.wantSentiment)
			}
			if r.Sentiment != nil && (*r.Sentiment < tt.min || *r.Sentiment > tt.max) {
				t.Errorf("Sentiment = %.4f, want in [%g, %g]", *r.Sentiment, tt.min, tt.max)
			}
			if !slices.Equal(r.Themes, tt.wantThemes) {
				t.Errorf("Themes = %q, want %q", r.Themes, tt.wantThemes)
			}
		})
	}
}

func TestAnalyzeOptions(t *testing.T) {
	r := NewAnalyzer(WithSentiment(false)).Analyze("great license", nil)
	if r.Sentiment != nil || r.Themes != nil {
		t.Errorf("no sentiment, no themes: got %+v", r)
	}
	r = NewAnalyzer().Analyze("great license", nil)
	if r.Sentiment == nil || *r.Sentiment <= 0 || r.Themes != nil {
		t.Errorf("sentiment only: got %+v", r)
	}
}

func BenchmarkAnalyze(b *testing.B) {
	m, err := NewThemeMatcher(benchThemes())
	if err != nil {
		b.Fatal(err)
	}
	a := NewAnalyzer(WithThemes(m))
	b.SetBytes(int64(len(typicalComment)))
	b.ReportAllocs()
	for b.Loop() {
		a.Analyze(typicalComment, nil)
	}
}
