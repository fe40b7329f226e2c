package collector

import "testing"

func TestFieldAt(t *testing.T) {
	for _, c := range []struct {
		body string
		at   string // the marker whose offset is asked
		want string
	}{
		{`{"id":"r-1","comment":"abc@def"}`, "@", "comment"},
		{`{"customer":{"id":"C","attributes":{"email":"x@y"}}}`, "@", "customer.attributes.email"},
		{`{"responses":[{"id":"a"},{"id":"b","answers":{"q1":"t@t"}}]}`, "@", "responses[1].answers.q1"},
		{`{"metadata":{"k@":"v"}}`, "@", "metadata"},
	} {
		off := -1
		for i := range c.body {
			if c.body[i:i+1] == c.at {
				off = i
				break
			}
		}
		if got := fieldAt([]byte(c.body), off); got != c.want {
			t.Errorf("fieldAt(%s, %d) = %q, want %q", c.body, off, got, c.want)
		}
	}
}

func TestCheckText(t *testing.T) {
	for body, want := range map[string]string{
		`{"comment":"a\u0000b"}`:                    "comment",
		`{"customer":{"id":"C\u0000"}}`:             "customer.id",
		"{\"metadata\":{\"store\":\"\xff\xfe\"}}":   "metadata.store",
		`{"comment":"a\\u0000 is text, not a NUL"}`: "",
	} {
		fe := checkText([]byte(body))
		got := ""
		if fe != nil {
			got = fe.Field
		}
		if got != want {
			t.Errorf("checkText(%q) = %+v, want field %q", body, fe, want)
		}
	}
}
