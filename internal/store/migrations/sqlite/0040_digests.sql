-- 0040: notification digests. A notify action with a digest adds its match
-- to the window of its rule and channel; the window is sent once, as one
-- message, when it ends. Keep in step with ../postgres/0040_digests.sql.

-- One row per (rule, channel, interval) that had a match. lease_until is
-- set when a flusher claims the window (it then takes no more matches)
-- and done_at when its message was delivered.
CREATE TABLE digest_windows (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	namespace    TEXT    NOT NULL,
	rule         TEXT    NOT NULL,
	channel      TEXT    NOT NULL,
	window_start INTEGER NOT NULL,
	window_end   INTEGER NOT NULL,
	title        TEXT    NOT NULL DEFAULT '',
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT    NOT NULL DEFAULT '',
	lease_until  INTEGER,
	done_at      INTEGER,
	UNIQUE (namespace, rule, channel, window_start)
) STRICT;

CREATE INDEX digest_windows_due ON digest_windows (namespace, window_end) WHERE done_at IS NULL;

-- One row per match, keyed by the match's own key: a replayed match is
-- never counted twice, in its window or a later one.
CREATE TABLE digest_matches (
	namespace  TEXT    NOT NULL,
	rule       TEXT    NOT NULL,
	channel    TEXT    NOT NULL,
	match_key  TEXT    NOT NULL,
	window_id  INTEGER NOT NULL,
	line       TEXT    NOT NULL,
	matched_at INTEGER NOT NULL,
	PRIMARY KEY (namespace, rule, channel, match_key)
) STRICT;

CREATE INDEX digest_matches_window ON digest_matches (window_id, matched_at);
