package textanalytics

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

var testThemes = []Theme{
	{Name: "licensing", Keywords: []string{"license key", "license", "activation code"}},
	{Name: "docs", Keywords: []string{"documentation", "docs", "manual"}},
	{Name: "install", Keywords: []string{"install", "installer", "installation"}},
	{Name: "email", Keywords: []string{"e-mail", "email"}},
	{Name: "app", Keywords: []string{"app"}},
	{Name: "display", Keywords: []string{"écran", "Bildschirm"}},
	{Name: "greek", Keywords: []string{"λογος"}},
	{Name: "japanese", Keywords: []string{"ライセンス"}},
	{Name: "chinese", Keywords: []string{"密钥"}},
	{Name: "refund", Keywords: []string{"money back", "refund"}},
}

func TestThemeMatcherMatch(t *testing.T) {
	m, err := NewThemeMatcher(testThemes)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		texts []string
		want  []string
	}{
		{"none", []string{"Everything worked fine."}, nil},
		{"no text", nil, nil},
		{"empty text", []string{""}, nil},
		{"single word", []string{"The installer hung."}, []string{"install"}},
		{"case", []string{"LICENSE KEY missing"}, []string{"licensing"}},
		{"punctuation around", []string{"(docs), [manual]; \"install\"!"}, []string{"docs", "install"}},
		{"phrase", []string{"I never got my license key"}, []string{"licensing"}},
		{"phrase across punctuation and lines", []string{"where is the license-\nkey?"}, []string{"licensing"}},
		{"phrase split by another word does not match", []string{"I want my money and back"}, nil},
		{"phrase prefix alone does not match", []string{"money"}, nil},
		{"phrase at the end", []string{"give me my money back"}, []string{"refund"}},
		// Whole words only: documented choice, to keep "app" out of "happy".
		{"inflected form does not match", []string{"It was licensed and installed"}, nil},
		{"keyword inside a word does not match", []string{"happy with the apparatus"}, nil},
		{"keyword next to digits is another word", []string{"app2 and 2app"}, nil},
		{"digits separate from letters by punctuation", []string{"app-2"}, []string{"app"}},
		{"hyphenated keyword matches spaced text", []string{"send an e mail"}, []string{"email"}},
		{"hyphenated keyword matches hyphenated text", []string{"send an E-Mail"}, []string{"email"}},
		{"apostrophe separates", []string{"the app's menu"}, []string{"app"}},
		{"sorted unique across texts", []string{"docs docs", "refund please", "Docs again", "app"}, []string{"app", "docs", "refund"}},
		{"unicode case", []string{"L'ÉCRAN reste noir"}, []string{"display"}},
		{"unicode decomposed accent", []string{"l'e\u0301cran"}, []string{"display"}},
		{"accent is significant", []string{"l'ecran"}, nil},
		{"unicode not inside a longer word", []string{"Bildschirmfoto"}, nil},
		{"german case", []string{"BILDSCHIRM kaputt"}, []string{"display"}},
		{"greek final sigma", []string{"ΛΟΓΟΣ"}, []string{"greek"}},
		{"full-width latin", []string{"ＬＩＣＥＮＳＥ"}, []string{"licensing"}},
		{"non-breaking space in phrase", []string{"license\u00a0key"}, []string{"licensing"}},
		{"japanese without spaces", []string{"ライセンスキーが届きません"}, []string{"japanese"}},
		{"chinese without spaces", []string{"我没有收到密钥。"}, []string{"chinese"}},
		{"chinese partial does not match", []string{"密码"}, nil},
		{"emoji are separators", []string{"app👍docs"}, []string{"app", "docs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := m.Match(tt.texts...)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Match(%q) = %q, want %q", tt.texts, got, tt.want)
			}
		})
	}
}

func TestThemeMatcherOverlappingKeywords(t *testing.T) {
	m, err := NewThemeMatcher([]Theme{
		{Name: "key", Keywords: []string{"key"}},
		{Name: "license-key", Keywords: []string{"license key"}},
		{Name: "license", Keywords: []string{"license"}},
		{Name: "long", Keywords: []string{"license key never arrived"}},
		{Name: "shared", Keywords: []string{"key"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := m.Match("my license key never arrived")
	want := []string{"key", "license", "license-key", "long", "shared"}
	if !slices.Equal(got, want) {
		t.Errorf("Match = %q, want %q", got, want)
	}
	if got := m.Match("license key never"); !slices.Equal(got, []string{"key", "license", "license-key", "shared"}) {
		t.Errorf("a phrase cut short must not match: got %q", got)
	}
}

func TestNewThemeMatcherErrors(t *testing.T) {
	tests := []struct {
		name   string
		themes []Theme
		want   string
	}{
		{"empty name", []Theme{{Name: " ", Keywords: []string{"a"}}}, "a theme has an empty name"},
		{"duplicate", []Theme{{Name: "a", Keywords: []string{"x"}}, {Name: "a", Keywords: []string{"y"}}}, `theme "a" is declared twice`},
		{"no keywords", []Theme{{Name: "a"}}, `theme "a" has no keywords`},
		{"keyword without words", []Theme{{Name: "a", Keywords: []string{"ok", "!!!"}}}, `theme "a": keyword "!!!" has no letters or digits`},
		{"empty keyword", []Theme{{Name: "a", Keywords: []string{""}}}, `keyword "" has no letters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewThemeMatcher(tt.themes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewThemeMatcher error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestThemeMatcherEmptyAndNil(t *testing.T) {
	m, err := NewThemeMatcher(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Match("license"); got != nil {
		t.Errorf("empty matcher matched %q", got)
	}
	var nilMatcher *ThemeMatcher
	if got := nilMatcher.Match("license"); got != nil {
		t.Errorf("nil matcher matched %q", got)
	}
}

func TestThemeMatcherDoesNotKeepCallerSlice(t *testing.T) {
	themes := []Theme{{Name: "b", Keywords: []string{"bee"}}, {Name: "a", Keywords: []string{"ay"}}}
	m, err := NewThemeMatcher(themes)
	if err != nil {
		t.Fatal(err)
	}
	if themes[0].Name != "b" {
		t.Errorf("NewThemeMatcher reordered the caller's slice")
	}
	themes[1].Name = "changed"
	if got := m.Themes(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Themes() = %q", got)
	}
}

func TestThemeMatcherManyThemes(t *testing.T) {
	// More than 128 themes takes the heap bit set.
	var themes []Theme
	for i := range 300 {
		themes = append(themes, Theme{Name: fmt.Sprintf("t%03d", i), Keywords: []string{fmt.Sprintf("word%d", i)}})
	}
	m, err := NewThemeMatcher(themes)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Match("word299 word0 word64 word128 word200 word1000")
	want := []string{"t000", "t064", "t128", "t200", "t299"}
	if !slices.Equal(got, want) {
		t.Errorf("Match = %q, want %q", got, want)
	}
}

func TestThemeMatcherConcurrent(t *testing.T) {
	m, err := NewThemeMatcher(testThemes)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 500 {
				if got := m.Match(typicalComment); !slices.Equal(got, []string{"docs", "email", "licensing"}) {
					t.Errorf("Match = %q", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

// benchThemes is a realistic touchpoint configuration: 20 themes of 5
// keywords, a third of them phrases.
func benchThemes() []Theme {
	var themes []Theme
	for i := range 20 {
		themes = append(themes, Theme{
			Name: fmt.Sprintf("theme-%02d", i),
			Keywords: []string{
				fmt.Sprintf("keyword%d", i), fmt.Sprintf("other%d", i),
				fmt.Sprintf("phrase%d start", i), fmt.Sprintf("word%d", i), fmt.Sprintf("term%d", i),
			},
		})
	}
	return append(themes, testThemes...)
}

func BenchmarkThemeMatch(b *testing.B) {
	m, err := NewThemeMatcher(benchThemes())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("ascii", func(b *testing.B) {
		b.SetBytes(int64(len(typicalComment)))
		b.ReportAllocs()
		for b.Loop() {
			m.Match(typicalComment)
		}
	})
	unicodeComment := "La mise à jour était rapide, mais trouver la clé de licence m'a pris une heure. " +
		"L'ÉCRAN restait noir et la documentation n'était pas claire. Sinon la nouvelle version est très bien !"
	b.Run("unicode", func(b *testing.B) {
		b.SetBytes(int64(len(unicodeComment)))
		b.ReportAllocs()
		for b.Loop() {
			m.Match(unicodeComment)
		}
	})
}
