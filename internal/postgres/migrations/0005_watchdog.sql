-- Issue 11: no non-superuser credentials can freeze registration.
--
-- Proven liveness. A node's heartbeat now carries an HMAC-SHA256, under a
-- key derived from the keyset, over its backend's pid and start, its name,
-- kind and clock. The row is keyed by the backend that wrote it, and
-- heartbeat() records that backend itself, so a caller registers only its
-- own session and can neither overwrite nor evict another's. The watchdog
-- verifies the MAC in Go: without the keyset no session passes for a live
-- node, whatever it writes here.
--
-- Advisory locks only through owner functions. Transactions lock through
-- xact_lock (transaction-level, fairslot's classes only) and nodes take the
-- job lock through try_job_lock; 'fairslot migrate' then revokes EXECUTE on
-- the raw pg_advisory* functions from PUBLIC (RolesSQL), so the online role
-- can hold no advisory lock that outlives its transaction but the job lock,
-- which the watchdog ends in a session that is not a proven node.
SET search_path = fairslot;

DROP FUNCTION heartbeat(text, text);
DROP TABLE nodes;

CREATE TABLE nodes (
	pid          int PRIMARY KEY,     -- the writer's pg_backend_pid(), recorded by heartbeat() itself
	name         text NOT NULL,
	kind         text NOT NULL CHECK (kind IN ('serve', 'migrate')),
	at_ms        bigint NOT NULL,     -- the node's clock, under the MAC
	mac          bytea NOT NULL,
	heartbeat_at timestamptz NOT NULL -- the database's clock, for people reading the table
);

-- heartbeat registers the calling backend. Rows of backends that are gone
-- are pruned on the way, skipping any another heartbeat has locked, so two
-- nodes never wait on each other here. It returns the database's clock, so
-- the node can tell when its own clock drifts too far for others to trust.
CREATE FUNCTION heartbeat(p_name text, p_kind text, p_at_ms bigint, p_mac bytea) RETURNS timestamptz
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	DELETE FROM nodes WHERE pid IN (SELECT n.pid FROM nodes n
		WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.pid = n.pid) FOR UPDATE SKIP LOCKED);
	INSERT INTO nodes (pid, name, kind, at_ms, mac, heartbeat_at)
	VALUES (pg_catalog.pg_backend_pid(), p_name, p_kind, p_at_ms, p_mac, pg_catalog.clock_timestamp())
	ON CONFLICT (pid) DO UPDATE SET name = excluded.name, kind = excluded.kind, at_ms = excluded.at_ms,
		mac = excluded.mac, heartbeat_at = excluded.heartbeat_at
	RETURNING heartbeat_at
$$;

-- xact_lock takes a transaction-level advisory lock in one of the classes
-- transactions use (lockPatient … lockTickets in postgres.go): never the
-- migration's or the job's key, and never a lock that outlives the
-- transaction.
CREATE FUNCTION xact_lock(p_key bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF p_key >> 56 NOT BETWEEN 2 AND 5 THEN
		RAISE EXCEPTION 'xact_lock: % is not the key of a fairslot transaction lock', p_key
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(p_key);
END $$;

-- try_job_lock tries a job's session-level lock (lockJob in watchdog.go).
CREATE FUNCTION try_job_lock(p_job int) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF p_job IS DISTINCT FROM 1 THEN
		RAISE EXCEPTION 'try_job_lock: no job %', p_job USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN pg_catalog.pg_try_advisory_lock((15::bigint << 56) | p_job);
END $$;
