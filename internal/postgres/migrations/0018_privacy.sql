-- Consent and the patient's rights (issue 13 item 8), the twin of SQLite's
-- 0016. consents and binding_removals are append-only (triggers, whoever
-- writes). The online role has no UPDATE or DELETE: it removes a binding and
-- closes an account through the functions below, each changing only what it
-- names. The retention purge (purge_patient, purge_outbox) is the owner's
-- and fairslot_rekey's alone (roles.go): with the online role's credentials
-- nobody can erase patients' data.
CREATE TABLE consents (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
	version text NOT NULL CHECK (length(version) BETWEEN 1 AND 32), lang text NOT NULL CHECK (lang IN ('zh-CN', 'vi', 'en')),
	at_ms bigint NOT NULL);
CREATE INDEX consents_account ON consents (account_id, id);

CREATE TABLE binding_removals (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
	patient_id bigint NOT NULL REFERENCES patients, bound_ms bigint NOT NULL, removed_ms bigint NOT NULL,
	reason text NOT NULL CHECK (reason IN ('removed', 'account_closed', 'retention')));
CREATE INDEX binding_removals_patient ON binding_removals (patient_id, removed_ms);
CREATE INDEX binding_removals_account ON binding_removals (account_id, bound_ms);

CREATE FUNCTION append_only() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER consents_no_truncate BEFORE TRUNCATE ON consents FOR EACH STATEMENT EXECUTE FUNCTION append_only();
CREATE TRIGGER binding_removals_append_only BEFORE UPDATE OR DELETE ON binding_removals FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER binding_removals_no_truncate BEFORE TRUNCATE ON binding_removals FOR EACH STATEMENT EXECUTE FUNCTION append_only();

ALTER TABLE accounts ADD COLUMN closed_ms bigint;
ALTER TABLE patients ADD COLUMN purged_ms bigint;

CREATE FUNCTION remove_bindings(p_account bigint, p_patient bigint, p_at bigint, p_reason text) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH d AS (DELETE FROM bindings WHERE (p_account IS NULL OR account_id = p_account) AND (p_patient IS NULL OR patient_id = p_patient)
			AND (p_account IS NOT NULL OR p_patient IS NOT NULL)
		RETURNING account_id, patient_id, created_ms),
	i AS (INSERT INTO binding_removals (account_id, patient_id, bound_ms, removed_ms, reason)
		SELECT account_id, patient_id, created_ms, p_at, p_reason FROM d RETURNING 1)
	SELECT count(*) FROM i
$$;

CREATE FUNCTION close_account(p_account bigint, p_at bigint, p_tombstone bytea) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF length(p_tombstone) <> 16 THEN
		RAISE EXCEPTION 'close_account: a tombstone is 16 bytes';
	END IF;
	UPDATE accounts SET closed_ms = p_at, phone_sealed = '\x'::bytea, phone_index = p_tombstone
		WHERE id = p_account AND closed_ms IS NULL;
	IF NOT FOUND THEN
		RETURN 0;
	END IF;
	PERFORM remove_bindings(p_account, NULL, p_at, 'account_closed');
	UPDATE waitlist SET closed_ms = p_at, outcome = 'left' WHERE account_id = p_account AND closed_ms IS NULL;
	RETURN 1;
END $$;

-- patient_activity is the retention rule's view of a patient
-- (privacy.Activity): the newest of everything that happened to the
-- identity, and how much of it still runs.
CREATE FUNCTION patient_activity(p_id bigint, OUT last_ms bigint, OUT active bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	SELECT greatest(p.created_ms,
		(SELECT max(created_ms) FROM bindings WHERE patient_id = p.id),
		(SELECT max(removed_ms) FROM binding_removals WHERE patient_id = p.id),
		(SELECT max(greatest(created_ms, updated_ms)) FROM bookings WHERE patient_id = p.id),
		(SELECT max(created_ms) FROM draw_entries WHERE patient_id = p.id),
		(SELECT max(coalesce(closed_ms, created_ms)) FROM waitlist WHERE patient_id = p.id)),
	(SELECT count(*) FROM bookings WHERE patient_id = p.id AND status IN ('held', 'confirmed', 'checked_in', 'called')) +
	(SELECT count(*) FROM draw_entries e WHERE e.patient_id = p.id AND NOT EXISTS (SELECT 1 FROM draw_runs r WHERE r.session_id = e.session_id)) +
	(SELECT count(*) FROM waitlist WHERE patient_id = p.id AND closed_ms IS NULL)
	FROM patients p WHERE p.id = p_id
$$;

CREATE FUNCTION purge_patient(p_id bigint, p_cutoff bigint, p_at bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
DECLARE a record;
BEGIN
	-- The caller holds the patient's lock (xact_lock), as a booking does.
	SELECT * INTO a FROM patient_activity(p_id);
	IF a.last_ms IS NULL OR a.active > 0 OR a.last_ms >= p_cutoff
		OR EXISTS (SELECT 1 FROM patients WHERE id = p_id AND purged_ms IS NOT NULL) THEN
		RETURN 0;
	END IF;
	PERFORM remove_bindings(NULL, p_id, p_at, 'retention');
	UPDATE patients SET id_sealed = '\x'::bytea, name_sealed = '\x'::bytea, phone_sealed = NULL, birth_sealed = NULL,
		phone_index = NULL, purged_ms = p_at WHERE id = p_id;
	RETURN 1;
END $$;

CREATE FUNCTION purge_outbox(p_cutoff bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE outbox SET recipient_sealed = '\x'::bytea, body_sealed = '\x'::bytea
		WHERE status IN ('sent', 'dead') AND created_ms < p_cutoff AND length(body_sealed) > 0 RETURNING 1)
	SELECT count(*) FROM u
$$;

-- A purged identity bound again gets its sealed fields back, in the same row:
-- the limits and counts that follow it stay.
CREATE FUNCTION restore_patient(p_id bigint, p_id_sealed bytea, p_name_sealed bytea, p_phone_index bytea, p_phone_sealed bytea,
	p_birth_sealed bytea) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE patients SET id_sealed = p_id_sealed, name_sealed = p_name_sealed, phone_index = p_phone_index,
		phone_sealed = p_phone_sealed, birth_sealed = p_birth_sealed, purged_ms = NULL
		WHERE id = p_id AND purged_ms IS NOT NULL AND length(p_name_sealed) > 0 AND length(p_id_sealed) > 0 RETURNING 1)
	SELECT count(*) FROM u
$$;
