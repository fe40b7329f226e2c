-- 0120: the case ledger forgets what can no longer matter. A dedup Case
-- row carries when its window ends (expires_at; NULL for rows written
-- before this version, kept until their Case is seen closed), and the
-- numbering of a key lives in dedup_keys, so that rows of closed Cases and
-- expired windows can be deleted without a key's next Case reusing a
-- number. Keep in step with ../sqlite/0120_case_ledger_prune.sql.
ALTER TABLE dedup_cases ADD COLUMN expires_at timestamptz;

CREATE INDEX dedup_cases_expiry ON dedup_cases (namespace, expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE dedup_keys (
	namespace      text        NOT NULL,
	template       text        NOT NULL,
	key_hash       text        NOT NULL,
	next_seq       integer     NOT NULL,
	last_opened_at timestamptz NOT NULL,
	PRIMARY KEY (namespace, template, key_hash)
);

CREATE INDEX dedup_keys_idle ON dedup_keys (namespace, last_opened_at);

INSERT INTO dedup_keys (namespace, template, key_hash, next_seq, last_opened_at)
	SELECT namespace, template, key_hash, max(seq) + 1, max(opened_at) FROM dedup_cases
	GROUP BY namespace, template, key_hash;

-- The throttle's window is pruned by namespace and time, across its rules.
CREATE INDEX case_throttle_opened ON case_throttle (namespace, opened_at);
