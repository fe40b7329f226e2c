-- 0003: a row per program the collector rewrites to check that the store
-- takes writes (/readyz). Keep in step with ../sqlite/0003_write_probe.sql.
CREATE TABLE write_probes (
	namespace text        PRIMARY KEY,
	probed_at timestamptz NOT NULL
);
