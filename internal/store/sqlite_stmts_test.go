package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestSQLiteStatementCache runs the SQLite store's queries through its
// prepared statements: a text first run inside a transaction is prepared
// after it and used by the next, texts beyond the cache's size still run,
// a script runs all its statements every time, and a closed cache runs
// texts.
func TestSQLiteStatementCache(t *testing.T) {
	ctx := context.Background()
	st, _ := openTestSQLite(t, Config{})
	s, ok := st.(*sqliteStore)
	if !ok {
		t.Fatalf("the SQLite store is a %T", st)
	}

	// A transaction cannot prepare on the one writer connection: the text
	// runs as text, then is prepared once the transaction is over.
	const insert = `INSERT INTO unsubscribes (namespace, customer_id, at) VALUES (?, ?, ?)`
	for i := range 2 {
		if err := s.inTx(ctx, func(q querier) error {
			for j := range 3 {
				if _, err := q.exec(ctx, insert, "acme", fmt.Sprintf("c-%d-%d", i, j), 1); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("transaction %d: %v", i, err)
		}
		if s.wstmts.lookup(insert) == nil {
			t.Fatalf("after transaction %d the insert is not prepared", i)
		}
	}
	// A failed transaction rolls back what its prepared statements wrote.
	boom := errors.New("boom")
	if err := s.inTx(ctx, func(q querier) error {
		if _, err := q.exec(ctx, insert, "acme", "rolled-back", 1); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failed transaction: %v, want boom", err)
	}
	var n int
	if err := s.r.queryRow(ctx, `SELECT count(*) FROM unsubscribes WHERE namespace = ?`, "acme").Scan(&n); err != nil || n != 6 {
		t.Fatalf("unsubscribes = %d, %v; want 6 (two transactions of 3, the failed one rolled back)", n, err)
	}

	// More texts than the cache keeps: every one still answers.
	for i := range stmtCacheSize + 10 {
		var got int
		if err := s.r.queryRow(ctx, fmt.Sprintf(`SELECT ? + %d`, i), 1).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("text %d: %d, %v; want %d", i, got, err, i+1)
		}
	}
	if n := len(s.rstmts.m); n != stmtCacheSize {
		t.Errorf("the readers' cache holds %d statements, want %d", n, stmtCacheSize)
	}

	// A script (two statements in one text) runs both, each time.
	const script = `INSERT INTO unsubscribes (namespace, customer_id, at) VALUES ('script', 'a' || (SELECT count(*) FROM unsubscribes), 1);
		INSERT INTO unsubscribes (namespace, customer_id, at) VALUES ('script', 'b' || (SELECT count(*) FROM unsubscribes), 1)`
	for range 2 {
		if _, err := s.w.exec(ctx, script); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.r.queryRow(ctx, `SELECT count(*) FROM unsubscribes WHERE namespace = ?`, "script").Scan(&n); err != nil || n != 4 {
		t.Fatalf("the script wrote %d rows, %v; want 4", n, err)
	}

	// A text that is not SQL fails the same way, cached or not.
	if _, err := s.w.exec(ctx, `UPDATE no_such_table SET x = 1`); err == nil {
		t.Error("an update of a missing table succeeded")
	}
	if err := s.inTx(ctx, func(q querier) error {
		_, err := q.exec(ctx, `UPDATE no_such_table SET x = 1`)
		return err
	}); err == nil {
		t.Error("an update of a missing table in a transaction succeeded")
	}

	s.wstmts.close()
	if _, err := s.w.exec(ctx, insert, "acme", "after-close", 1); err != nil {
		t.Fatalf("exec after the cache closed: %v", err)
	}
}
