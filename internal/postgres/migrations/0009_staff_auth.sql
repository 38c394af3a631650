-- Staff accounts with a second factor (issue 12, items 1-3), the PostgreSQL
-- twin of SQLite's 0007. The TOTP secret is sealed with the vault; recovery
-- codes are keyed hashes, never deleted, only spent or retired; a staff
-- session records when it was last seen and when its second factor was last
-- checked. The online role reads and inserts; every change goes through the
-- SECURITY DEFINER functions below, and the guards hold whoever writes.
SET search_path = fairslot;

ALTER TABLE staff ADD COLUMN totp_sealed bytea,
	ADD COLUMN totp_pending_sealed bytea,
	ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0,
	ADD COLUMN disabled_ms bigint,
	ADD COLUMN locked_ms bigint,
	ADD COLUMN password_changed_ms bigint;

CREATE TABLE staff_recovery_codes (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	staff_id   bigint NOT NULL REFERENCES staff (id),
	hash       bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
	created_ms bigint NOT NULL,
	used_ms    bigint
);
CREATE INDEX staff_recovery_codes_staff ON staff_recovery_codes (staff_id);

CREATE TABLE staff_sessions (
	token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
	staff_id     bigint NOT NULL REFERENCES staff (id),
	created_ms   bigint NOT NULL,
	last_seen_ms bigint NOT NULL,
	factor_ms    bigint,
	ended_ms     bigint
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id) WHERE ended_ms IS NULL;

-- A TOTP step, once used, is never used again, even across a reset.
CREATE FUNCTION staff_auth_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF NEW.totp_last_step < OLD.totp_last_step THEN
		RAISE EXCEPTION 'a TOTP step is used once' USING ERRCODE = 'FSS01';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER staff_auth_guard BEFORE UPDATE ON staff FOR EACH ROW EXECUTE FUNCTION staff_auth_guard();

CREATE FUNCTION staff_recovery_codes_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'recovery codes are kept' USING ERRCODE = 'FSS01';
	END IF;
	IF NEW.hash <> OLD.hash OR NEW.staff_id <> OLD.staff_id OR NEW.created_ms <> OLD.created_ms
		OR (OLD.used_ms IS NOT NULL AND NEW.used_ms IS DISTINCT FROM OLD.used_ms) THEN
		RAISE EXCEPTION 'a recovery code is used once' USING ERRCODE = 'FSS01';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER staff_recovery_codes_guard BEFORE UPDATE OR DELETE ON staff_recovery_codes
	FOR EACH ROW EXECUTE FUNCTION staff_recovery_codes_guard();

CREATE FUNCTION staff_sessions_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'staff sessions are kept' USING ERRCODE = 'FSS01';
	END IF;
	IF NEW.token_hash <> OLD.token_hash OR NEW.staff_id <> OLD.staff_id OR NEW.created_ms <> OLD.created_ms
		OR NEW.last_seen_ms < OLD.last_seen_ms OR coalesce(NEW.factor_ms, 0) < coalesce(OLD.factor_ms, 0)
		OR (OLD.ended_ms IS NOT NULL AND NEW.ended_ms IS DISTINCT FROM OLD.ended_ms) THEN
		RAISE EXCEPTION 'a staff session ends once and its times only move forward' USING ERRCODE = 'FSS01';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER staff_sessions_guard BEFORE UPDATE OR DELETE ON staff_sessions
	FOR EACH ROW EXECUTE FUNCTION staff_sessions_guard();

-- The online role's only ways to change these rows. Each returns how many
-- rows it changed, so a conditional write that found nothing is told apart.
CREATE FUNCTION staff_set_password(p_id bigint, p_hash text, p_at bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE staff SET password_hash = p_hash, password_changed_ms = p_at WHERE id = p_id RETURNING 1)
	SELECT count(*) FROM u
$$;
CREATE FUNCTION staff_set_disabled(p_id bigint, p_at bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE staff SET disabled_ms = p_at WHERE id = p_id RETURNING 1)
	SELECT count(*) FROM u
$$;
CREATE FUNCTION staff_lock(p_id bigint, p_at bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE staff SET locked_ms = p_at WHERE id = p_id AND locked_ms IS NULL RETURNING 1)
	SELECT count(*) FROM u
$$;
CREATE FUNCTION staff_unlock(p_id bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE staff SET locked_ms = NULL WHERE id = p_id RETURNING 1)
	SELECT count(*) FROM u
$$;
CREATE FUNCTION staff_set_totp_pending(p_id bigint, p_sealed bytea) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE staff SET totp_pending_sealed = p_sealed WHERE id = p_id RETURNING 1)
	SELECT count(*) FROM u
$$;
CREATE FUNCTION staff_retire_recovery_codes(p_id bigint, p_at bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	UPDATE staff_recovery_codes SET used_ms = p_at WHERE staff_id = p_id AND used_ms IS NULL
$$;
CREATE FUNCTION staff_confirm_totp(p_id bigint, p_pending bytea, p_step bigint, p_hashes bytea[], p_at bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
DECLARE n bigint;
BEGIN
	UPDATE staff SET totp_sealed = totp_pending_sealed, totp_pending_sealed = NULL, totp_last_step = p_step
		WHERE id = p_id AND totp_pending_sealed = p_pending AND totp_last_step < p_step;
	GET DIAGNOSTICS n = ROW_COUNT;
	IF n = 0 THEN
		RETURN 0;
	END IF;
	PERFORM staff_retire_recovery_codes(p_id, p_at);
	INSERT INTO staff_recovery_codes (staff_id, hash, created_ms) SELECT p_id, h, p_at FROM unnest(p_hashes) AS h;
	RETURN n;
END $$;
CREATE FUNCTION staff_use_totp_step(p_id bigint, p_step bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE staff SET totp_last_step = p_step WHERE id = p_id AND totp_last_step < p_step AND totp_sealed IS NOT NULL RETURNING 1)
	SELECT count(*) FROM u
$$;
CREATE FUNCTION staff_use_recovery_code(p_id bigint, p_hash bytea, p_at bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE staff_recovery_codes SET used_ms = p_at WHERE staff_id = p_id AND hash = p_hash AND used_ms IS NULL RETURNING 1)
	SELECT count(*) FROM u
$$;
CREATE FUNCTION staff_reset_mfa(p_id bigint, p_at bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
DECLARE n bigint;
BEGIN
	UPDATE staff SET totp_sealed = NULL, totp_pending_sealed = NULL WHERE id = p_id;
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM staff_retire_recovery_codes(p_id, p_at);
	RETURN n;
END $$;
CREATE FUNCTION staff_session_touch(p_hash bytea, p_seen bigint, p_factor bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE staff_sessions SET last_seen_ms = greatest(last_seen_ms, p_seen), factor_ms = coalesce(p_factor, factor_ms)
		WHERE token_hash = p_hash AND ended_ms IS NULL RETURNING 1)
	SELECT count(*) FROM u
$$;
CREATE FUNCTION staff_end_sessions(p_id bigint, p_hash bytea, p_at bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE staff_sessions SET ended_ms = p_at
		WHERE staff_id = p_id AND (p_hash IS NULL OR token_hash = p_hash) AND ended_ms IS NULL RETURNING 1)
	SELECT count(*) FROM u
$$;
