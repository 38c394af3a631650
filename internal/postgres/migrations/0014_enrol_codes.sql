-- One-time enrolment codes (issue 12, items 1-2), the PostgreSQL twin of
-- SQLite's 0012: an account without a confirmed second factor enrols only
-- with the code an admin handed out, so that a stolen password cannot enrol
-- the thief's authenticator. Only a keyed hash is kept, with its expiry.
-- As in 0009 the online role changes staff rows only through SECURITY
-- DEFINER functions; confirming an enrolment now also needs the code,
-- which it spends, so the old confirm (without a code) is dropped.
SET search_path = fairslot;

ALTER TABLE staff ADD COLUMN enrol_code_hash bytea CHECK (enrol_code_hash IS NULL OR length(enrol_code_hash) = 32),
	ADD COLUMN enrol_code_expires_ms bigint;

CREATE FUNCTION staff_set_enrol_code(p_id bigint, p_hash bytea, p_expires bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE staff SET enrol_code_hash = p_hash, enrol_code_expires_ms = p_expires WHERE id = p_id RETURNING 1)
	SELECT count(*) FROM u
$$;

DROP FUNCTION staff_confirm_totp(bigint, bytea, bigint, bytea[], bigint);
CREATE FUNCTION staff_confirm_totp(p_id bigint, p_pending bytea, p_code bytea, p_step bigint, p_hashes bytea[], p_at bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
DECLARE n bigint;
BEGIN
	UPDATE staff SET totp_sealed = totp_pending_sealed, totp_pending_sealed = NULL, totp_last_step = p_step,
			enrol_code_hash = NULL, enrol_code_expires_ms = NULL
		WHERE id = p_id AND totp_pending_sealed = p_pending AND totp_last_step < p_step
			AND enrol_code_hash = p_code AND enrol_code_expires_ms > p_at;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n = 0 THEN
		RETURN 0;
	END IF;
	PERFORM staff_retire_recovery_codes(p_id, p_at);
	INSERT INTO staff_recovery_codes (staff_id, hash, created_ms) SELECT p_id, h, p_at FROM unnest(p_hashes) AS h;
	RETURN n;
END $$;
