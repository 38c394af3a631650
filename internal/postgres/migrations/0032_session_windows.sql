-- A session's time windows edited from the admin page (issue 14 item 5),
-- the twin of SQLite's 0032. A window is the slots that share a start and
-- an end. The online role has no UPDATE or DELETE on slots: a window moves
-- through move_window and goes through remove_window (all its slots or
-- none, and only when nothing refers to any of them). Whoever writes, the
-- triggers keep what a patient was told: a slot a booking holds (one not
-- cancelled or expired) never changes its times; a moved slot stays inside
-- its session; and a window never overlaps another (an extra place, 加号,
-- is added at the session's end as it always was). The caller holds the
-- session's lock (lockSession), as a booking's choice of slot does, so an
-- edit and a booking take turns.
CREATE FUNCTION slot_window_check() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF TG_OP = 'UPDATE' THEN
		IF EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = OLD.id AND b.status NOT IN ('cancelled', 'expired')) THEN
			RAISE EXCEPTION 'slot % is booked: its window cannot move', OLD.id USING ERRCODE = 'FS005';
		END IF;
		IF EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND (NEW.start_ms < s.start_ms OR NEW.end_ms > s.end_ms)) THEN
			RAISE EXCEPTION 'slot % would lie outside its session', OLD.id USING ERRCODE = 'FS005';
		END IF;
		IF EXISTS (SELECT 1 FROM slots o WHERE o.session_id = NEW.session_id AND o.id <> NEW.id
			AND o.start_ms < NEW.end_ms AND NEW.start_ms < o.end_ms
			AND NOT (o.start_ms = NEW.start_ms AND o.end_ms = NEW.end_ms)
			AND NOT (o.start_ms = OLD.start_ms AND o.end_ms = OLD.end_ms)) THEN
			RAISE EXCEPTION 'time windows overlap' USING ERRCODE = 'FS005';
		END IF;
	ELSIF NEW.quota <> 'extra' AND EXISTS (SELECT 1 FROM slots o WHERE o.session_id = NEW.session_id
			AND o.start_ms < NEW.end_ms AND NEW.start_ms < o.end_ms
			AND NOT (o.start_ms = NEW.start_ms AND o.end_ms = NEW.end_ms)) THEN
		RAISE EXCEPTION 'time windows overlap' USING ERRCODE = 'FS005';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER slots_window_insert BEFORE INSERT ON slots FOR EACH ROW EXECUTE FUNCTION slot_window_check();
CREATE TRIGGER slots_window_move BEFORE UPDATE OF start_ms, end_ms ON slots FOR EACH ROW
	WHEN (NEW.start_ms <> OLD.start_ms OR NEW.end_ms <> OLD.end_ms) EXECUTE FUNCTION slot_window_check();

CREATE FUNCTION move_window(p_session bigint, p_from bigint, p_from_end bigint, p_start bigint, p_end bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH moved AS (UPDATE slots SET start_ms = p_start, end_ms = p_end
		WHERE session_id = p_session AND start_ms = p_from AND end_ms = p_from_end RETURNING 1)
	SELECT count(*) FROM moved
$$;
CREATE FUNCTION remove_window(p_session bigint, p_from bigint, p_from_end bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH win AS (
		SELECT sl.id FROM slots sl WHERE sl.session_id = p_session AND sl.start_ms = p_from AND sl.end_ms = p_from_end FOR UPDATE
	), referred AS (
		SELECT 1 FROM win WHERE EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = win.id)
		OR EXISTS (SELECT 1 FROM slot_embargoes e WHERE e.slot_id = win.id)
		OR EXISTS (SELECT 1 FROM extra_slot_reasons x WHERE x.slot_id = win.id)
	), removed AS (
		DELETE FROM slots WHERE id IN (SELECT id FROM win) AND NOT EXISTS (SELECT 1 FROM referred) RETURNING 1
	)
	SELECT count(*) FROM removed
$$;
