-- 0020: the case ledger. Dispatchers record the Cases they open so that a
-- throttle or dedup decision reads a few indexed rows, however many Cases
-- exist, instead of listing Cases from the API server. The Case objects stay
-- the record people see. Keep in step with ../sqlite/0020_case_ledger.sql.

-- One row per Case a throttled rule opened (or is opening), for the last
-- hour or so: a reservation is pruned once it is out of the window.
CREATE TABLE case_throttle (
	namespace text        NOT NULL,
	rule      text        NOT NULL,
	case_name text        NOT NULL,
	opened_at timestamptz NOT NULL,
	PRIMARY KEY (namespace, rule, case_name)
);

CREATE INDEX case_throttle_window ON case_throttle (namespace, rule, opened_at);

-- The Cases of each dedup key, numbered: the n-th Case of a key is named
-- <template>-<key>-<n>.
CREATE TABLE dedup_cases (
	namespace text        NOT NULL,
	template  text        NOT NULL,
	key_hash  text        NOT NULL,
	seq       integer     NOT NULL,
	case_name text        NOT NULL,
	opened_at timestamptz NOT NULL,
	PRIMARY KEY (namespace, template, key_hash, seq)
);

CREATE INDEX dedup_cases_window ON dedup_cases (namespace, template, key_hash, opened_at);
