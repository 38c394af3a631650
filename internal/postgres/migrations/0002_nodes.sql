-- Live fairslot processes. Each node's job connection writes its backend id
-- here every few seconds, with the database's clock, so the watchdog can tell
-- a fairslot session from an impostor that merely sets application_name.
SET search_path = fairslot;

CREATE TABLE nodes (
	name          text PRIMARY KEY,
	kind          text NOT NULL CHECK (kind IN ('serve', 'migrate')),
	pid           int NOT NULL,
	backend_start timestamptz, -- NULL where pg_stat_activity does not show it to the owner
	heartbeat_at  timestamptz NOT NULL
);

CREATE FUNCTION heartbeat(p_name text, p_kind text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	INSERT INTO nodes (name, kind, pid, backend_start, heartbeat_at)
	VALUES (p_name, p_kind, pg_backend_pid(), (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()), clock_timestamp())
	ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, pid = excluded.pid,
		backend_start = excluded.backend_start, heartbeat_at = excluded.heartbeat_at
$$;
