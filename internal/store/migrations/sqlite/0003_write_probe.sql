-- 0003: a row per program the collector rewrites to check that the store
-- takes writes (/readyz). Keep in step with ../postgres/0003_write_probe.sql.
CREATE TABLE write_probes (
	namespace TEXT    PRIMARY KEY,
	probed_at INTEGER NOT NULL
) STRICT;
