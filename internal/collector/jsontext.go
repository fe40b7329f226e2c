package collector

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"
)

// checkText finds the first string of a JSON body that a store could not
// keep as the customer sent it: invalid UTF-8 (encoding/json would
// silently replace it) or a NUL character (\u0000, which PostgreSQL
// refuses and SQLite truncates at). It names the field (a batch item's
// errors get their "responses[i]" prefix from the caller).
func checkText(body []byte) *FieldError {
	if !utf8.Valid(body) {
		off := invalidUTF8Offset(body)
		return &FieldError{Field: fieldAt(body, off), Message: "is not valid UTF-8 (byte " + strconv.Itoa(off) + "); send text as UTF-8"}
	}
	if off := nulEscapeOffset(body); off >= 0 {
		return &FieldError{Field: fieldAt(body, off), Message: `contains a NUL character (\u0000); remove it`}
	}
	return nil
}

func joinField(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	case strings.HasPrefix(field, "["):
		return prefix + field
	default:
		return prefix + "." + field
	}
}

func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// nulEscapeOffset is the offset of the first \u0000 escape (not an escaped
// backslash followed by u0000), or -1.
func nulEscapeOffset(b []byte) int {
	for from := 0; ; {
		i := bytes.Index(b[from:], []byte(`u0000`))
		if i < 0 {
			return -1
		}
		i += from
		slashes := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			slashes++
		}
		if slashes%2 == 1 {
			return i - 1
		}
		from = i + 1
	}
}

// fieldAt returns the JSON path ("comment", "customer.attributes.email",
// "responses[2].answers.q1") of the value being read at byte offset of
// body: it decodes body up to offset and reports where the decoder stood.
func fieldAt(body []byte, offset int) string {
	if offset > len(body) {
		offset = len(body)
	}
	type frame struct {
		object    bool
		key       string
		index     int
		expectKey bool
	}
	var stack []*frame
	path := func() string {
		var sb strings.Builder
		for _, f := range stack {
			switch {
			case f.object && !f.expectKey:
				if sb.Len() > 0 {
					sb.WriteByte('.')
				}
				sb.WriteString(f.key)
			case !f.object:
				sb.WriteString("[" + strconv.Itoa(f.index) + "]")
			}
		}
		return sb.String()
	}
	valueDone := func() {
		if len(stack) == 0 {
			return
		}
		top := stack[len(stack)-1]
		if top.object {
			top.expectKey = true
		} else {
			top.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body[:offset]))
	for {
		tok, err := dec.Token()
		if err != nil {
			// The end of the prefix (or of the body): here the decoder stood.
			return path()
		}
		if len(stack) > 0 {
			if top := stack[len(stack)-1]; top.object && top.expectKey {
				if k, ok := tok.(string); ok {
					top.key, top.expectKey = k, false
					continue
				}
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}
