package controllers

import (
	"slices"
	"strings"
	"testing"
)

// --program-namespaces: names are trimmed, sorted and deduplicated; a name
// that is not a namespace is refused, quoted, with why.
func TestParseProgramNamespaces(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: " , ", want: nil},
		{in: "acme-cx", want: []string{"acme-cx"}},
		{in: "support, acme-cx,support", want: []string{"acme-cx", "support"}},
		{in: "acme-cx,Acme", wantErr: `"Acme" is not a namespace name`},
		{in: "a/b", wantErr: `"a/b" is not a namespace name`},
	} {
		got, err := ParseProgramNamespaces(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseProgramNamespaces(%q) error %v, want one containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseProgramNamespaces(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
