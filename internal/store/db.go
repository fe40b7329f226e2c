package store

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"time"
)

// querier is what the engine-independent code needs from a connection
// pool or a transaction. SQL is written with ? placeholders; the
// PostgreSQL implementation rewrites them to $n.
type querier interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	queryRow(ctx context.Context, query string, args ...any) rowScanner
	query(ctx context.Context, query string, args ...any) (rowsIter, error)
}

type rowScanner interface {
	// Scan returns sql.ErrNoRows when there is no row, for both engines.
	Scan(dest ...any) error
}

type rowsIter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// dialect holds what differs in SQL text and value encoding.
type dialect struct {
	name string
	// ts encodes a time for a query argument.
	ts func(time.Time) any
	// skipLocked is appended to the claim query's inner SELECT.
	skipLocked string
	// jsonText returns an SQL expression extracting key from a JSON object
	// column as text (NULL when absent). Keys are validated by validKey
	// before they become part of SQL text.
	jsonText func(col, key string) string
	// jsonOut returns a JSON column as JSON text.
	jsonOut func(col string) string
	// jsonRemove returns an expression: col without keys.
	jsonRemove func(col string, keys []string) string
	// jsonHasAny returns a condition: col has any of keys.
	jsonHasAny func(col string, keys []string) string
}

// micros is how SQLite stores times.
func micros(t time.Time) int64 { return t.UnixMicro() }

// utc normalizes a time the way the store keeps it.
func utc(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// nullTime scans a time stored as INTEGER microseconds (SQLite) or as
// timestamptz (PostgreSQL); NULL leaves the zero time.
type nullTime struct{ T time.Time }

func (n *nullTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		n.T = time.Time{}
	case int64:
		n.T = time.UnixMicro(x).UTC()
	case time.Time:
		n.T = x.UTC()
	default:
		return fmt.Errorf("store: cannot scan %T into a time", v)
	}
	return nil
}

var _ sql.Scanner = (*nullTime)(nil)

// jsonBytes scans a JSON column (TEXT on SQLite, jsonb/json on PostgreSQL)
// into bytes; NULL gives nil.
type jsonBytes []byte

func (j *jsonBytes) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*j = nil
	case string:
		*j = []byte(x)
	case []byte:
		*j = append([]byte(nil), x...)
	default:
		return fmt.Errorf("store: cannot scan %T into JSON", v)
	}
	return nil
}

var _ sql.Scanner = (*jsonBytes)(nil)

// keyPattern is what a metadata, attribute or question key may look like
// when it becomes part of SQL text.
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$`)

func validKey(what, k string) error {
	if !keyPattern.MatchString(k) {
		return fmt.Errorf("%w: %s %q: use letters, digits, '_', '-' or '.' (at most 128)", ErrInvalid, what, k)
	}
	return nil
}
