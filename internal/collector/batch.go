package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// batchError is a malformed batch, with the field to name.
type batchError struct{ FieldError }

func (e batchError) Error() string { return e.Field + ": " + e.Message }

// decodeBatch reads {"responses": [item, ...]} from r as a stream, one item
// at a time, and calls item with each (its bytes are the decoder's: they
// are not valid after item returns). Only the item being decoded is held,
// never the whole body. It returns how many items it read, and an error
// for a malformed batch (a batchError naming the field, a JSON error, or
// the reader's error, such as *http.MaxBytesError) at any point, trailing
// data after the object included.
func decodeBatch(r io.Reader, item func(i int, raw json.RawMessage)) (int, error) {
	dec := json.NewDecoder(r)
	n := 0
	if err := wantDelim(dec, '{', "", "must be an object {\"responses\": [ ... ]}"); err != nil {
		return n, err
	}
	seen := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return n, err
		}
		key, _ := tok.(string)
		// encoding/json matches field names case-insensitively; so does
		// this, as the batch decoder always did.
		if !strings.EqualFold(key, "responses") {
			return n, batchError{FieldError{Field: key, Message: `unknown field; a batch holds only "responses"`}}
		}
		if seen {
			return n, batchError{FieldError{Field: "responses", Message: "is given twice; send one array"}}
		}
		seen = true
		if err := wantDelim(dec, '[', "responses", "must be an array of responses"); err != nil {
			return n, err
		}
		var raw json.RawMessage
		for dec.More() {
			raw = raw[:0]
			if err := dec.Decode(&raw); err != nil {
				return n, err
			}
			item(n, raw)
			n++
		}
		if _, err := dec.Token(); err != nil { // ]
			return n, err
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return n, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return n, err
		}
		return n, batchError{FieldError{Message: fmt.Sprintf("data after the batch object at byte %d", dec.InputOffset())}}
	}
	return n, nil
}

// wantDelim reads the next token and checks it is delim.
func wantDelim(dec *json.Decoder, delim json.Delim, field, msg string) error {
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) && field == "" {
			return batchError{FieldError{Message: "the body is empty; send one JSON object"}}
		}
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != delim {
		return batchError{FieldError{Field: field, Message: fmt.Sprintf("%s, not %v", msg, describeToken(tok))}}
	}
	return nil
}

func describeToken(tok any) string {
	switch t := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		return string(t)
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}
