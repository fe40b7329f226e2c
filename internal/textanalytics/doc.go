// Package textanalytics scores the free text of a survey response: a
// sentiment score for what the customer wrote and the themes (topics) it
// mentions, from the keyword lists of the touchpoint.
//
// Sentiment comes from VADER (Hutto and Gilbert, 2014), a lexicon and rule
// based model tuned for short, informal text, through its Go port
// github.com/jonreiter/govader, which checks its answers against the Python
// original. The lexicon is compiled into the binary: nothing is downloaded at
// run time. VADER is English-only; text in other languages mostly scores 0.
//
// Themes are matched by a ThemeMatcher compiled once from the keyword lists:
// case-insensitively, on whole words, with multi-word phrases. See
// NewThemeMatcher for the exact rules.
//
// Everything here is pure and safe for concurrent use.
package textanalytics
