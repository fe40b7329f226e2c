package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Driver names accepted by Config.Driver.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Errors callers can test with errors.Is.
var (
	// ErrNotFound: the response, action or archived case does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrInvalid wraps argument errors (a bad group-by key, an empty id...).
	ErrInvalid = errors.New("store: invalid argument")
)

// Store is the response store of one collector (or of several collectors
// sharing one PostgreSQL database). All methods are safe for concurrent use.
// Times are stored with microsecond precision and returned in UTC.
type Store interface {
	// SaveResponses stores responses and the actions they trigger, each
	// response with its actions in one transaction. Concurrent calls are
	// group-committed. When it returns without error, every result with
	// Status Stored or Duplicate is durable. The error is for failures of the
	// whole call (store closed, database unreachable, ctx done); failures of
	// one response are in its SaveResult.Err.
	SaveResponses(ctx context.Context, responses []NewResponse) ([]SaveResult, error)
	// GetResponse returns one stored response, or ErrNotFound.
	GetResponse(ctx context.Context, touchpoint, id string) (Response, error)
	// ListResponses returns a page of a touchpoint's responses in
	// submission order (see ResponseQuery).
	ListResponses(ctx context.Context, q ResponseQuery) ([]Response, error)
	// Counts returns the number of responses of a touchpoint, how many were
	// received at or after since, and when the last one was received (zero
	// when there are none).
	Counts(ctx context.Context, touchpoint string, since time.Time) (total, sinceCount int64, last time.Time, err error)
	// Aggregate computes mergeable aggregates of the responses submitted in
	// [q.From, q.To), per group.
	Aggregate(ctx context.Context, q AggregateQuery) (*AggregateResult, error)

	// ClaimActions leases up to limit due, undone actions (next attempt at or
	// before now) for lease: until now+lease no other claimer gets them. Each
	// claim counts as an attempt. Several dispatchers may claim concurrently;
	// none gets an action another one holds.
	ClaimActions(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]Action, error)
	// CompleteAction marks a claimed action done.
	CompleteAction(ctx context.Context, id int64) error
	// CompleteActions marks claimed actions done at once.
	CompleteActions(ctx context.Context, ids []int64) error
	// RetryAction releases a claimed action to be tried again at
	// nextAttemptAt, recording why this attempt failed.
	RetryAction(ctx context.Context, id int64, nextAttemptAt time.Time, errMsg string) error
	// OutboxStats returns the number of undone actions and the creation time
	// of the oldest one (zero when there are none).
	OutboxStats(ctx context.Context) (depth int64, oldest time.Time, err error)
	// DeleteCompletedActionsBefore deletes actions done before t.
	DeleteCompletedActionsBefore(ctx context.Context, t time.Time) (int64, error)

	// RecordInvitation records an issued survey token. Recording the same
	// token id again is a no-op.
	RecordInvitation(ctx context.Context, inv Invitation) error
	// InvitationsSince counts the invitations issued to a customer at or
	// after since, on one touchpoint or, with scope "", on all touchpoints of
	// the store, and returns when the last one was issued.
	InvitationsSince(ctx context.Context, scope, customerID string, since time.Time) (count int, last time.Time, err error)
	// IssueInvitation records inv only when the customer's earlier
	// invitations pass limits (quarantine, cap per window), deciding and
	// recording atomically per customer, also across processes sharing
	// the database.
	IssueInvitation(ctx context.Context, inv Invitation, limits ContactLimits) (ContactDecision, error)
	// UseToken atomically marks a recorded, unexpired token used at at. It
	// returns false when the token is unknown, expired or already used.
	UseToken(ctx context.Context, tokenID string, at time.Time) (bool, error)
	// DeleteInvitationsBefore deletes invitations that expired before t.
	DeleteInvitationsBefore(ctx context.Context, t time.Time) (int64, error)

	// DeleteResponsesBefore deletes a touchpoint's responses submitted before
	// t, in bounded batches, and returns how many it deleted.
	DeleteResponsesBefore(ctx context.Context, touchpoint string, t time.Time) (int64, error)
	// EraseContactDetails removes the attributes isContact matches (email,
	// phone, name...) from the customer attributes of a touchpoint's
	// responses submitted before t, in bounded batches, and returns how
	// many responses it changed.
	EraseContactDetails(ctx context.Context, touchpoint string, before time.Time, isContact func(key string) bool) (int64, error)

	// EraseCustomer erases one customer of a touchpoint (and the
	// namespace's archived Cases naming the customer) in one transaction,
	// redacting or deleting (Erasure), and records it in the erasure log
	// without personal data.
	EraseCustomer(ctx context.Context, e Erasure) (ErasureRecord, error)
	// GetErasure returns a row of the namespace's erasure log, or
	// ErrNotFound.
	GetErasure(ctx context.Context, namespace, id string) (ErasureRecord, error)

	// ArchiveCase stores the JSON document of a closed Case, replacing an
	// earlier archive of the same Case.
	ArchiveCase(ctx context.Context, namespace, name string, closedAt time.Time, doc []byte) error
	// DeleteArchivedCasesBefore deletes a namespace's archived Cases closed
	// before t (the archive's retention), in bounded batches.
	DeleteArchivedCasesBefore(ctx context.Context, namespace string, t time.Time) (int64, error)
	// GetArchivedCase returns an archived Case, or ErrNotFound.
	GetArchivedCase(ctx context.Context, namespace, name string) (ArchivedCase, error)

	// CaseLedger backs the dispatcher's throttle and dedup decisions.
	CaseLedger
	// Outreach keeps business events, scheduled invitations and
	// unsubscribes.
	Outreach
	// Digests buffer the matches of notify actions sent as digests.
	Digests
	// Predictions keep the predicted scores of interactions nobody asked
	// about, apart from responses.
	Predictions

	// SchemaVersion returns the highest applied migration version.
	SchemaVersion(ctx context.Context) (int, error)
	// Ping checks that the database answers (for /readyz).
	Ping(ctx context.Context) error
	// ProbeWrite commits a one-row write, to check that the store takes
	// writes (a full disk, a read-only file or database fail it).
	ProbeWrite(ctx context.Context) error
	// Close stops accepting writes, commits the pending group commits, and
	// closes the database.
	Close() error
}

// Customer identifies who answered.
type Customer struct {
	ID      string
	Tier    string
	Segment string
	// Attributes are free customer attributes, including contact details
	// (email, phone, name) that EraseContactDetails removes.
	Attributes map[string]string
}

// NewResponse is a response to store, with the actions it triggers.
type NewResponse struct {
	// Touchpoint the response belongs to.
	Touchpoint string
	// ID is the client's idempotency key, unique per touchpoint.
	ID       string
	Customer Customer
	// Answers is a JSON object: question id -> answer value.
	Answers json.RawMessage
	Comment string
	// Sentiment of the comment (-1..1), nil when not scored.
	Sentiment *float64
	// Themes found in the comment.
	Themes []string
	// Metadata such as store, agent or channel.
	Metadata    map[string]string
	SubmittedAt time.Time
	// BodyHash identifies the request the response came from (the
	// collector hashes it). Saving a known ID with another non-empty
	// BodyHash is StatusConflict; the same hash is StatusDuplicate.
	BodyHash string
	// TokenID, when set, is the invitation token the response was submitted
	// with: it is marked used in the same transaction, and a token that is
	// unknown, expired, used, or issued for another customer or touchpoint
	// rejects the response (StatusTokenRejected). A retried response (same
	// ID) is a Duplicate before the token is looked at.
	TokenID string
	// Actions to write to the outbox with the response, only when the
	// response is new.
	Actions []NewAction
}

// NewAction is an outbox entry written together with its response.
type NewAction struct {
	// Kind tells the dispatcher what to do: ActionOpenCase, ActionNotify...
	Kind string
	// DedupKey is unique per touchpoint: an action whose key exists is not
	// written again. Empty means "<response id>/<kind>/<index>".
	DedupKey string
	// Payload is opaque JSON for the dispatcher.
	Payload json.RawMessage
}

// Action kinds used by the collector. The store treats kinds as opaque.
const (
	ActionOpenCase    = "open_case"
	ActionNotify      = "notify"
	ActionRecognition = "recognition"
	// ActionDigest adds a match to a channel's digest (see Digests).
	ActionDigest = "digest"
)

// SaveStatus is the outcome of saving one response.
type SaveStatus int

const (
	// StatusFailed: the response was not stored; see SaveResult.Err.
	StatusFailed SaveStatus = iota
	// StatusStored: the response is new and now durable.
	StatusStored
	// StatusDuplicate: a response with this id was stored before; Receipt
	// is the original one.
	StatusDuplicate
	// StatusTokenRejected: TokenID was not usable; nothing was stored.
	StatusTokenRejected
	// StatusConflict: a response with this id but another BodyHash was
	// stored before; nothing was stored. Receipt is the stored one.
	StatusConflict
)

// duplicateResult answers a known id: Duplicate when r is the stored body
// (or either hash is unknown), Conflict otherwise.
func duplicateResult(r *NewResponse, storedHash string, rc Receipt) SaveResult {
	if storedHash != "" && r.BodyHash != "" && storedHash != r.BodyHash {
		return SaveResult{Status: StatusConflict, Receipt: rc}
	}
	return SaveResult{Status: StatusDuplicate, Receipt: rc}
}

func (s SaveStatus) String() string {
	switch s {
	case StatusStored:
		return "Stored"
	case StatusDuplicate:
		return "Duplicate"
	case StatusTokenRejected:
		return "TokenRejected"
	case StatusConflict:
		return "Conflict"
	default:
		return "Failed"
	}
}

// Receipt is what the store answered when it first stored a response.
type Receipt struct {
	// Seq is the store-wide sequence number of the response.
	Seq        int64
	ReceivedAt time.Time
}

// SaveResult is the outcome for one NewResponse, in input order.
type SaveResult struct {
	Status  SaveStatus
	Receipt Receipt
	// Err is set when Status is StatusFailed.
	Err error
}

// Response is a stored response.
type Response struct {
	Seq         int64
	Touchpoint  string
	ID          string
	Customer    Customer
	Answers     json.RawMessage
	Comment     string
	Sentiment   *float64
	Themes      []string
	Metadata    map[string]string
	SubmittedAt time.Time
	ReceivedAt  time.Time
}

// Action is a claimed outbox entry.
type Action struct {
	ID         int64
	Touchpoint string
	ResponseID string
	Kind       string
	DedupKey   string
	Payload    json.RawMessage
	// Attempts counts claims, this one included.
	Attempts int
	// LastError is the error of the previous attempt.
	LastError string
	CreatedAt time.Time
	// LeaseUntil is when the claim expires and another dispatcher may take
	// the action.
	LeaseUntil time.Time
}

// Invitation is an issued survey token.
type Invitation struct {
	TokenID    string
	Touchpoint string
	CustomerID string
	IssuedAt   time.Time
	ExpiresAt  time.Time
}

// ArchivedCase is a closed Case kept after its object was deleted.
type ArchivedCase struct {
	Namespace  string
	Name       string
	ClosedAt   time.Time
	ArchivedAt time.Time
	// Doc is the JSON document given to ArchiveCase.
	Doc []byte
}

// CommitStats describes one group commit, for metrics.
type CommitStats struct {
	// Responses written in the transaction (the batch size).
	Responses int
	// Requests is how many SaveResponses calls the batch answered.
	Requests int
	// Duration of the transaction, commit included.
	Duration time.Duration
	// Err is the error of the whole transaction, if it failed.
	Err error
}

// Config selects and tunes an engine.
type Config struct {
	// Namespace is the program whose rows this store reads and writes:
	// every key (responses, idempotency, outbox, invitations) includes it,
	// so programs sharing one database never see each other's data.
	Namespace string
	// Touchpoint, when set with Namespace, claims the rows of that
	// touchpoint written before namespaces were recorded (schema 0002)
	// for Namespace at Open.
	Touchpoint string

	// Driver is DriverSQLite or DriverPostgres.
	Driver string
	// Path of the SQLite database file (DSN is accepted as a synonym).
	Path string
	// DSN of the PostgreSQL database (URL or keyword/value form).
	DSN string
	// Schema (PostgreSQL): tables live in this schema, created if missing;
	// empty uses the DSN's search_path.
	Schema string

	// MaxBatch is the most responses one group commit writes (default 256).
	// A single call with more responses is written in one transaction.
	MaxBatch int
	// Committers is how many group commits may be in flight at once:
	// default 1 on SQLite (one writer), 2 on PostgreSQL (one transaction
	// executes while another waits for its commit to be flushed).
	Committers int
	// QueueSize is how many SaveResponses calls may wait for the committer
	// (default 1024).
	QueueSize int
	// CommitTimeout bounds one group-commit transaction (default 30s).
	CommitTimeout time.Duration
	// OnCommit, when set, is called after every group commit from the
	// committer goroutine; it must not block (observe a histogram).
	OnCommit func(CommitStats)

	// Synchronous (SQLite) is "FULL" (default) or "NORMAL". FULL fsyncs the
	// WAL at every commit: an acknowledged response survives a process kill
	// and a power loss. NORMAL survives a process kill only.
	Synchronous string
	// BusyTimeout (SQLite) is how long a connection waits for a lock held by
	// another process (default 10s).
	BusyTimeout time.Duration
	// MaxReadConns (SQLite) sizes the read-only connection pool (default 4).
	MaxReadConns int
	// MaxConns (PostgreSQL) sizes the connection pool (default 16).
	MaxConns int

	// Now is the clock for received_at and archive times (default time.Now).
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 256
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 1024
	}
	if c.CommitTimeout <= 0 {
		c.CommitTimeout = 30 * time.Second
	}
	if c.Synchronous == "" {
		c.Synchronous = "FULL"
	}
	if c.BusyTimeout <= 0 {
		c.BusyTimeout = 10 * time.Second
	}
	if c.MaxReadConns <= 0 {
		c.MaxReadConns = 4
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 16
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Open opens the store, applies pending migrations (safe when several
// processes open the same database at once), and starts the group
// committer.
func Open(ctx context.Context, cfg Config) (Store, error) {
	cfg.setDefaults()
	var (
		s   Store
		err error
	)
	switch cfg.Driver {
	case DriverSQLite:
		s, err = openSQLite(ctx, cfg)
	case DriverPostgres:
		s, err = openPostgres(ctx, cfg)
	default:
		return nil, fmt.Errorf("%w: driver %q: use %q or %q", ErrInvalid, cfg.Driver, DriverSQLite, DriverPostgres)
	}
	if err != nil {
		return nil, err
	}
	if cfg.Namespace != "" && cfg.Touchpoint != "" {
		if err := claimUnscoped(ctx, s, cfg.Namespace, cfg.Touchpoint); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// claimUnscoped moves the touchpoint's rows written before the namespace
// was recorded (namespace ”) into namespace. It is cheap when there are
// none (an index lookup per table).
func claimUnscoped(ctx context.Context, st Store, namespace, touchpoint string) error {
	var s *sqlStore
	switch x := st.(type) {
	case *sqliteStore:
		s = &x.sqlStore
	case *pgStore:
		s = &x.sqlStore
	default:
		return nil
	}
	for _, table := range []string{"responses", "outbox_actions", "invitations"} {
		if _, err := s.w.exec(ctx, `UPDATE `+table+` SET namespace = ? WHERE namespace = '' AND touchpoint = ?`, namespace, touchpoint); err != nil {
			return fmt.Errorf("claim the rows of touchpoint %s in %s for namespace %s: %w", touchpoint, table, namespace, err)
		}
	}
	return nil
}
