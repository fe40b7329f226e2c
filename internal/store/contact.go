package store

import (
	"context"
	"fmt"
	"hash/fnv"
	"time"
)

// ContactLimits are the contact-frequency rules an invitation must pass.
type ContactLimits struct {
	// Scope is the touchpoint whose invitations count, or "" for every
	// touchpoint of the namespace (the program).
	Scope string
	// Quarantine: no invitation when one was issued less than this ago
	// (0: none).
	Quarantine time.Duration
	// Cap invitations at most per CapWindow (0: no cap).
	Cap       int
	CapWindow time.Duration
}

// Reasons of a refused invitation (ContactDecision.Reason).
const (
	ContactQuarantined = "Quarantined"
	ContactCapReached  = "CapReached"
)

// ContactDecision is what IssueInvitation decided.
type ContactDecision struct {
	// Issued is true when the invitation was recorded.
	Issued bool
	// Reason is ContactQuarantined or ContactCapReached when not issued.
	Reason string
	// Count is the customer's invitations in the cap window (with
	// ContactCapReached), Last the latest one's issue time.
	Count int
	Last  time.Time
}

// pgContactLockClass is the first key of the PostgreSQL advisory locks
// that serialize one customer's invitation decisions (the second is a hash
// of namespace and customer). Two-key advisory locks do not share the
// key space of the one-key lock the migrations take.
const pgContactLockClass = 0x63786c70 // "cxlp"

// IssueInvitation decides quarantine and cap and records inv when both
// pass, in one transaction that first takes a lock on the customer: on
// PostgreSQL a transaction-scoped advisory lock on (namespace, customer),
// which every replica sharing the database takes too; on SQLite the
// writer's immediate transaction, which holds the database's write lock
// from its start. Concurrent requests for one customer are decided one
// after the other, each seeing the invitations the others recorded.
func (s *sqlStore) IssueInvitation(ctx context.Context, inv Invitation, lim ContactLimits) (ContactDecision, error) {
	var dec ContactDecision
	err := s.inTx(ctx, func(q querier) error {
		var err error
		dec, err = s.issueInvitation(ctx, q, inv, lim)
		return err
	})
	if err != nil {
		return ContactDecision{}, fmt.Errorf("issue invitation: %w", err)
	}
	return dec, nil
}

// customerLockKey is the second key of a customer's advisory lock.
func (s *sqlStore) customerLockKey(customerID string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s.cfg.Namespace + "\x00" + customerID))
	return int32(h.Sum32())
}

// issueInvitation is IssueInvitation inside the transaction q: a
// transaction may issue several, each after the one before (and their
// locks are taken in ascending key order by callers issuing many, so two
// such transactions never wait for each other in a cycle).
func (s *sqlStore) issueInvitation(ctx context.Context, q querier, inv Invitation, lim ContactLimits) (ContactDecision, error) {
	if inv.TokenID == "" || inv.Touchpoint == "" || inv.CustomerID == "" {
		return ContactDecision{}, fmt.Errorf("%w: invitation needs a token id, a touchpoint and a customer id", ErrInvalid)
	}
	var dec ContactDecision
	if s.d.name == DriverPostgres {
		if _, err := q.exec(ctx, `SELECT pg_advisory_xact_lock(?::int4, ?::int4)`, int32(pgContactLockClass), s.customerLockKey(inv.CustomerID)); err != nil {
			return dec, fmt.Errorf("lock the customer: %w", err)
		}
	}
	count := func(since time.Time) (int, time.Time, error) {
		sel := `SELECT count(*), max(issued_at) FROM invitations WHERE namespace = ? AND customer_id = ? AND issued_at >= ?`
		args := []any{s.cfg.Namespace, inv.CustomerID, s.d.ts(utc(since))}
		if lim.Scope != "" {
			sel += ` AND touchpoint = ?`
			args = append(args, lim.Scope)
		}
		var n int
		var last nullTime
		err := q.queryRow(ctx, sel, args...).Scan(&n, &last)
		return n, last.T, err
	}
	if lim.Quarantine > 0 {
		n, last, err := count(inv.IssuedAt.Add(-lim.Quarantine))
		if err != nil {
			return dec, err
		}
		if n > 0 {
			dec.Reason, dec.Count, dec.Last = ContactQuarantined, n, last
			return dec, nil
		}
	}
	if lim.Cap > 0 {
		n, last, err := count(inv.IssuedAt.Add(-lim.CapWindow))
		if err != nil {
			return dec, err
		}
		if n >= lim.Cap {
			dec.Reason, dec.Count, dec.Last = ContactCapReached, n, last
			return dec, nil
		}
	}
	if err := s.insertInvitation(ctx, q, inv); err != nil {
		return dec, err
	}
	dec.Issued = true
	return dec, nil
}
