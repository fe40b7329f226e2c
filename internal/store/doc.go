// Package store is the durable response store behind each collector: survey
// responses, the transactional outbox of the actions they trigger,
// invitations for contact-frequency rules, mergeable aggregates for the
// metrics API, business events with their features and the predicted
// scores of interactions nobody asked about (Predictions, with the scoring
// cursor that keeps scoring passes incremental), retention, per-customer
// erasure, and the archive of closed Cases.
//
// Two engines implement the same Store interface with the same schema and
// versioned migrations (embedded SQL files, applied in order at Open):
//
//   - SQLite (modernc.org/sqlite, no cgo): a file on the collector's volume,
//     WAL mode, one writer connection and a pool of read-only connections,
//     each keeping the statements it runs prepared.
//   - PostgreSQL (pgx): shared by several collector replicas and touchpoints.
//
// Writes of responses are group-committed: concurrent SaveResponses calls are
// collected by one committer goroutine and written in one transaction, so a
// durable acknowledgement does not cost one fsync per response. The
// responses are checked and encoded by the callers' goroutines before they
// queue; the committer writes them with multi-row statements (SQLite) or one
// statement over arrays (PostgreSQL).
//
// The package knows no Kubernetes types.
package store
