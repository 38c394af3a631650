-- Session edits from the admin page (issue 14 item 5). The online role has
-- no UPDATE or DELETE: a session's room and fee change through
-- update_session (bookings keep the fee they were made at), and a
-- window's capacity is lowered through remove_free_slots, which takes out
-- only slots nothing refers to (never booked, held or embargoed, not an
-- extra slot) and all n or none, so a window never holds fewer places
-- than it has taken.
CREATE FUNCTION update_session(p_id bigint, p_room text, p_fee bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH changed AS (UPDATE sessions SET room = p_room, fee_cents = p_fee WHERE id = p_id RETURNING 1)
	SELECT count(*) FROM changed
$$;
CREATE FUNCTION remove_free_slots(p_session bigint, p_start_ms bigint, p_n int) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH free AS (
		SELECT sl.id, sl.number FROM slots sl WHERE sl.session_id = p_session AND sl.start_ms = p_start_ms AND sl.quota = 'general'
		AND NOT EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = sl.id)
		AND NOT EXISTS (SELECT 1 FROM slot_embargoes e WHERE e.slot_id = sl.id)
		AND NOT EXISTS (SELECT 1 FROM extra_slot_reasons x WHERE x.slot_id = sl.id)
		FOR UPDATE
	), removed AS (
		DELETE FROM slots WHERE id IN (SELECT id FROM free ORDER BY number DESC LIMIT p_n)
		AND (SELECT count(*) FROM free) >= p_n RETURNING 1
	)
	SELECT count(*) FROM removed
$$;
-- Campuses and departments are renamed (and a department moved or
-- recoded) through these, for the same reason.
CREATE FUNCTION update_campus(p_id bigint, p_name text) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH changed AS (UPDATE campuses SET name = p_name WHERE id = p_id RETURNING 1)
	SELECT count(*) FROM changed
$$;
CREATE FUNCTION update_department(p_id bigint, p_campus bigint, p_code text, p_name text) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH changed AS (UPDATE departments SET campus_id = p_campus, code = p_code, name = p_name WHERE id = p_id RETURNING 1)
	SELECT count(*) FROM changed
$$;
