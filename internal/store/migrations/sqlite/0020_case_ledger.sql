-- 0020: the case ledger. Dispatchers record the Cases they open so that a
-- throttle or dedup decision reads a few indexed rows, however many Cases
-- exist, instead of listing Cases from the API server. The Case objects stay
-- the record people see. Keep in step with ../postgres/0020_case_ledger.sql.

-- One row per Case a throttled rule opened (or is opening), for the last
-- hour or so: a reservation is pruned once it is out of the window.
CREATE TABLE case_throttle (
	namespace TEXT    NOT NULL,
	rule      TEXT    NOT NULL,
	case_name TEXT    NOT NULL,
	opened_at INTEGER NOT NULL,
	PRIMARY KEY (namespace, rule, case_name)
) STRICT;

CREATE INDEX case_throttle_window ON case_throttle (namespace, rule, opened_at);

-- The Cases of each dedup key, numbered: the n-th Case of a key is named
-- <template>-<key>-<n>.
CREATE TABLE dedup_cases (
	namespace TEXT    NOT NULL,
	template  TEXT    NOT NULL,
	key_hash  TEXT    NOT NULL,
	seq       INTEGER NOT NULL,
	case_name TEXT    NOT NULL,
	opened_at INTEGER NOT NULL,
	PRIMARY KEY (namespace, template, key_hash, seq)
) STRICT;

CREATE INDEX dedup_cases_window ON dedup_cases (namespace, template, key_hash, opened_at);
