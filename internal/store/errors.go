package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// SQLite primary result codes that say the data, not the database, is at
// fault.
const (
	sqliteTooBig     = 18
	sqliteConstraint = 19
	sqliteMismatch   = 20
)

// IsPermanent reports whether err rejects the data itself (an invalid
// argument, a value the database refuses), so that saving it again as is
// fails again; a lost connection, a full disk or a closed store are not
// permanent. Callers answer permanent errors as the client's (4xx), the
// others as unavailable (503, retry).
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalid) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 22 (data exception: invalid text, NUL, out of range) and
		// 23 (integrity constraint violation).
		return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqliteTooBig, sqliteConstraint, sqliteMismatch:
			return true
		}
	}
	return false
}
