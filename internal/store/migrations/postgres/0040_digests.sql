-- 0040: notification digests. A notify action with a digest adds its match
-- to the window of its rule and channel; the window is sent once, as one
-- message, when it ends. Keep in step with ../sqlite/0040_digests.sql.

-- One row per (rule, channel, interval) that had a match. lease_until is
-- set when a flusher claims the window (it then takes no more matches)
-- and done_at when its message was delivered.
CREATE TABLE digest_windows (
	id           bigserial   PRIMARY KEY,
	namespace    text        NOT NULL,
	rule         text        NOT NULL,
	channel      text        NOT NULL,
	window_start timestamptz NOT NULL,
	window_end   timestamptz NOT NULL,
	title        text        NOT NULL DEFAULT '',
	attempts     integer     NOT NULL DEFAULT 0,
	last_error   text        NOT NULL DEFAULT '',
	lease_until  timestamptz,
	done_at      timestamptz,
	UNIQUE (namespace, rule, channel, window_start)
);

CREATE INDEX digest_windows_due ON digest_windows (namespace, window_end) WHERE done_at IS NULL;

-- One row per match, keyed by the match's own key: a replayed match is
-- never counted twice, in its window or a later one.
CREATE TABLE digest_matches (
	namespace  text        NOT NULL,
	rule       text        NOT NULL,
	channel    text        NOT NULL,
	match_key  text        NOT NULL,
	window_id  bigint      NOT NULL,
	line       text        NOT NULL,
	matched_at timestamptz NOT NULL,
	PRIMARY KEY (namespace, rule, channel, match_key)
);

CREATE INDEX digest_matches_window ON digest_matches (window_id, matched_at);
