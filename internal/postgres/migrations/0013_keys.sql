-- Keys (issue 12 item 9), the twin of SQLite's 0011: extra slots' reasons
-- sealed in their own table, and the two functions through which the online
-- role re-seals a value under a new key and rebuilds a blind index — it has
-- no UPDATE on these tables. Each takes only the columns listed here,
-- changes one row only if it still holds the value read (compare-and-set),
-- and reseal refuses a "new" value under the same key as the old one, so it
-- is no general way to overwrite sealed data.
CREATE TABLE extra_slot_reasons (
	slot_id       bigint PRIMARY KEY REFERENCES slots (id),
	reason_sealed bytea NOT NULL
);
CREATE FUNCTION extra_slot_reasons_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF TG_OP = 'DELETE' OR NEW.slot_id <> OLD.slot_id THEN
		RAISE EXCEPTION 'extra slot reasons are kept; they change only by re-sealing' USING ERRCODE = 'FSK01';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER extra_slot_reasons_guard BEFORE UPDATE OR DELETE ON extra_slot_reasons
	FOR EACH ROW EXECUTE FUNCTION extra_slot_reasons_guard();

CREATE FUNCTION reseal(p_table text, p_column text, p_id bigint, p_old bytea, p_new bytea) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
DECLARE
	k text;
	n bigint;
BEGIN
	SELECT key INTO k FROM (VALUES
		('accounts', 'phone_sealed', 'id'), ('patients', 'id_sealed', 'id'), ('patients', 'name_sealed', 'id'),
		('patients', 'phone_sealed', 'id'), ('patients', 'birth_sealed', 'id'), ('releases', 'seed_sealed', 'session_id'),
		('staff', 'totp_sealed', 'id'), ('staff', 'totp_pending_sealed', 'id'), ('outbox', 'recipient_sealed', 'id'),
		('outbox', 'body_sealed', 'id'), ('access_log', 'note_sealed', 'id'), ('extra_slot_reasons', 'reason_sealed', 'slot_id')
	) AS s (tab, col, key) WHERE tab = p_table AND col = p_column;
	IF k IS NULL THEN
		RAISE EXCEPTION 'reseal: %.% is not a sealed column', p_table, p_column USING ERRCODE = 'FSK01';
	END IF;
	IF length(p_new) < 5 OR get_byte(p_new, 0) <> 1 OR substring(p_new FROM 1 FOR 5) = substring(p_old FROM 1 FOR 5) THEN
		RAISE EXCEPTION 'reseal: the new value must be sealed under another key' USING ERRCODE = 'FSK01';
	END IF;
	EXECUTE format('UPDATE %I SET %I = $1 WHERE %I = $2 AND %I = $3', p_table, p_column, k, p_column) USING p_new, p_id, p_old;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;

CREATE FUNCTION reindex_blind(p_table text, p_column text, p_id bigint, p_old bytea, p_new bytea) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
DECLARE
	n bigint;
BEGIN
	IF (p_table, p_column) NOT IN (('accounts', 'phone_index'), ('patients', 'id_index'), ('patients', 'phone_index')) THEN
		RAISE EXCEPTION 'reindex: %.% is not a blind index', p_table, p_column USING ERRCODE = 'FSK01';
	END IF;
	IF length(p_new) <> 16 THEN
		RAISE EXCEPTION 'reindex: a blind index is 16 bytes' USING ERRCODE = 'FSK01';
	END IF;
	EXECUTE format('UPDATE %I SET %I = $1 WHERE id = $2 AND %I = $3', p_table, p_column, p_column) USING p_new, p_id, p_old;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END $$;

-- What the re-keying has done (the index key every blind index was found
-- under) is written only by the rekey role: put_setting refuses the keys.
-- names but a node's own report of the keys it has loaded.
CREATE FUNCTION put_rekey_state(p_key text, p_value text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF p_key NOT LIKE 'keys.%' THEN
		RAISE EXCEPTION 'put_rekey_state: % is not a keys setting', p_key USING ERRCODE = 'FSK01';
	END IF;
	INSERT INTO settings (key, value) VALUES (p_key, p_value) ON CONFLICT (key) DO UPDATE SET value = excluded.value;
END $$;
CREATE OR REPLACE FUNCTION put_setting(p_key text, p_value text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF p_key LIKE 'keys.%' AND p_key NOT LIKE 'keys.node.%' THEN
		RAISE EXCEPTION 'put_setting: % is the rekey role''s to write', p_key USING ERRCODE = 'FSK01';
	END IF;
	INSERT INTO settings (key, value) VALUES (p_key, p_value) ON CONFLICT (key) DO UPDATE SET value = excluded.value;
END $$;
