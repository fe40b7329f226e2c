package textanalytics

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Theme is a topic recognised by keywords, as declared in a touchpoint's
// textAnalytics.themes.
type Theme struct {
	// Name of the theme, reported in Result.Themes, for example "licensing".
	Name string `json:"name"`
	// Keywords are words or phrases that mark the theme, for example
	// "license key".
	Keywords []string `json:"keywords"`
}

// ThemeMatcher finds the themes a text mentions. It is compiled once by
// NewThemeMatcher and is immutable and safe for concurrent use.
//
// Matching works on words, not characters: the text and every keyword are
// split into words the same way, and a keyword matches where its words
// appear consecutively in the text. The scan keeps a trie of keyword words
// and costs one map look-up per text word and phrase word, whatever the
// number of themes and keywords.
type ThemeMatcher struct {
	names []string // theme names, sorted; a theme is its index here
	root  *trieNode
}

type trieNode struct {
	next   map[string]*trieNode
	themes []int // themes (indexes into names) of keywords ending here
}

// NewThemeMatcher compiles themes into a matcher. Rules, the same for the
// text and the keywords:
//
//   - A word is a run of letters, digits and combining marks (Unicode
//     categories L, N and M). Everything else separates words: spaces,
//     punctuation, apostrophes, hyphens, symbols. So "license key" matches
//     "License-key", "license key!" and "LICENSE\nKEY", and "e-mail" matches
//     "e mail".
//   - Case does not matter, in any script: "ÉCRAN" matches "écran", and
//     "ΛΟΓΟΣ" matches "λογος" (final sigma included).
//   - Text and keywords are compared in Unicode NFKC form, so composed and
//     decomposed accents, full-width letters and ligatures compare equal.
//     Accents are significant otherwise: "cafe" does not match "café" (in
//     some languages an accent makes another word); list both if needed.
//   - Whole words only: "license" does not match "licensed", "licenses" or
//     "unlicensed", and "log in" does not match "login". List every form a
//     theme needs ("license", "licenses", "licensing"). This keeps short
//     keywords such as "app" or "ui" from matching inside unrelated words
//     ("happy", "build").
//   - Scripts written without spaces between words (Han, Hiragana, Katakana,
//     Thai, Lao, Khmer, Myanmar) have no word boundaries to go by: there each
//     character is a word, so a keyword in those scripts matches wherever its
//     characters appear in sequence.
//
// It fails on a theme without a name or keywords, on a repeated theme name
// and on a keyword that contains no word at all (for example "!!!").
// A keyword listed under several themes marks all of them.
func NewThemeMatcher(themes []Theme) (*ThemeMatcher, error) {
	sorted := slices.Clone(themes)
	slices.SortFunc(sorted, func(a, b Theme) int { return strings.Compare(a.Name, b.Name) })
	m := &ThemeMatcher{names: make([]string, len(sorted)), root: &trieNode{}}
	for i, th := range sorted {
		if strings.TrimSpace(th.Name) == "" {
			return nil, fmt.Errorf("a theme has an empty name (keywords %q)", th.Keywords)
		}
		if i > 0 && sorted[i-1].Name == th.Name {
			return nil, fmt.Errorf("theme %q is declared twice", th.Name)
		}
		if len(th.Keywords) == 0 {
			return nil, fmt.Errorf("theme %q has no keywords", th.Name)
		}
		m.names[i] = th.Name
		for _, kw := range th.Keywords {
			words := splitWords(kw)
			if len(words) == 0 {
				return nil, fmt.Errorf("theme %q: keyword %q has no letters or digits to match", th.Name, kw)
			}
			n := m.root
			for _, w := range words {
				child := n.next[w]
				if child == nil {
					if n.next == nil {
						n.next = make(map[string]*trieNode)
					}
					child = &trieNode{}
					n.next[w] = child
				}
				n = child
			}
			if !slices.Contains(n.themes, i) {
				n.themes = append(n.themes, i)
			}
		}
	}
	return m, nil
}

// Themes returns the names of the matcher's themes, sorted.
func (m *ThemeMatcher) Themes() []string { return slices.Clone(m.names) }

// Match returns the sorted, unique names of the themes mentioned in any of
// texts, or nil when none is. A nil matcher matches nothing.
func (m *ThemeMatcher) Match(texts ...string) []string {
	if m == nil || len(m.names) == 0 {
		return nil
	}
	var small [2]uint64
	hits := small[:]
	if len(m.names) > 64*len(small) {
		hits = make([]uint64, (len(m.names)+63)/64)
	}
	found := false
	for _, text := range texts {
		words := splitWords(text)
		for i := range words {
			n := m.root
			for _, w := range words[i:] {
				if n = n.next[w]; n == nil {
					break
				}
				for _, t := range n.themes {
					hits[t/64] |= 1 << (t % 64)
					found = true
				}
			}
		}
	}
	if !found {
		return nil
	}
	var out []string
	for i, name := range m.names {
		if hits[i/64]&(1<<(i%64)) != 0 {
			out = append(out, name)
		}
	}
	return out
}

// splitWords folds the case of text and splits it into words (see
// NewThemeMatcher). The words share one backing string.
func splitWords(text string) []string {
	ascii := true
	for i := 0; i < len(text); i++ {
		if text[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return splitASCII(text)
	}
	text = norm.NFKC.String(text)

	folded := make([]byte, 0, len(text))
	var spans [][2]int
	start := -1 // start in folded of the word being read, -1 between words
	for _, r := range text {
		switch {
		case isUnspacedScript(r):
			if start >= 0 {
				spans = append(spans, [2]int{start, len(folded)})
				start = -1
			}
			b := len(folded)
			folded = utf8.AppendRune(folded, foldRune(r))
			spans = append(spans, [2]int{b, len(folded)})
		case unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r):
			if start < 0 {
				start = len(folded)
			}
			folded = utf8.AppendRune(folded, foldRune(r))
		default:
			if start >= 0 {
				spans = append(spans, [2]int{start, len(folded)})
				start = -1
			}
		}
	}
	if start >= 0 {
		spans = append(spans, [2]int{start, len(folded)})
	}
	s := string(folded)
	words := make([]string, len(spans))
	for i, sp := range spans {
		words[i] = s[sp[0]:sp[1]]
	}
	return words
}

// splitASCII is splitWords for ASCII text, the common case: one pass, one
// string allocation (none when the text is already lower case).
func splitASCII(text string) []string {
	lower := text
	for i := 0; i < len(text); i++ {
		if c := text[i]; 'A' <= c && c <= 'Z' {
			b := []byte(text)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			lower = string(b)
			break
		}
	}
	words := make([]string, 0, len(lower)/6+1) // English averages ~6 bytes a word with its space
	start := -1
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		if ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			words = append(words, lower[start:i])
			start = -1
		}
	}
	if start >= 0 {
		words = append(words, lower[start:])
	}
	return words
}

// foldRune maps r to a canonical case: the lower case of its upper case, so
// that the letters of one simple case-folding orbit meet (σ, ς and Σ; k, K
// and the Kelvin sign).
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	return unicode.ToLower(unicode.ToUpper(r))
}

// unspacedScripts are written without spaces between words.
var unspacedScripts = []*unicode.RangeTable{
	unicode.Han, unicode.Hiragana, unicode.Katakana,
	unicode.Thai, unicode.Lao, unicode.Khmer, unicode.Myanmar,
}

func isUnspacedScript(r rune) bool {
	return r >= 0x0E00 && unicode.IsOneOf(unspacedScripts, r)
}
