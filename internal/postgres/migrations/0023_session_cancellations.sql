-- A session the hospital cancelled (停诊): the row is the cancellation, kept
-- for good (the online role may insert it, never change or remove it).
-- While it stands the database refuses every new claim on the session — a
-- booking, a draw entry, a waitlist place, a ticket, an extra slot — and any
-- move of a booking to confirmed, checked in or called, whoever writes.
CREATE TABLE session_cancellations (
	session_id bigint PRIMARY KEY REFERENCES sessions,
	at_ms bigint NOT NULL,
	staff_id bigint REFERENCES staff,
	reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500));
CREATE TRIGGER session_cancellations_append_only BEFORE UPDATE OR DELETE ON session_cancellations FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER session_cancellations_no_truncate BEFORE TRUNCATE ON session_cancellations FOR EACH STATEMENT EXECUTE FUNCTION append_only();

-- A new claim takes the session's transaction lock (lockSession in
-- postgres.go), which the cancellation holds until it commits, and only
-- then looks: a claim racing the cancellation either is seen by it (and
-- cancelled with the rest) or sees it (and is refused). A status move needs
-- no lock: the cancellation moves each booking row itself.
CREATE FUNCTION session_open() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF NEW.session_id IS NULL THEN
		RETURN NEW;
	END IF;
	IF TG_OP = 'INSERT' THEN
		PERFORM fairslot.xact_lock((4::bigint << 56) | NEW.session_id);
	END IF;
	IF EXISTS (SELECT 1 FROM session_cancellations WHERE session_id = NEW.session_id) THEN
		RAISE EXCEPTION 'session % is cancelled', NEW.session_id USING ERRCODE = 'FS004';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER bookings_session_open BEFORE INSERT ON bookings FOR EACH ROW EXECUTE FUNCTION session_open();
CREATE TRIGGER bookings_move_session_open BEFORE UPDATE OF status ON bookings FOR EACH ROW
	WHEN (NEW.status IN ('confirmed', 'checked_in', 'called') AND NEW.status <> OLD.status) EXECUTE FUNCTION session_open();
CREATE TRIGGER draw_entries_session_open BEFORE INSERT ON draw_entries FOR EACH ROW EXECUTE FUNCTION session_open();
CREATE TRIGGER waitlist_session_open BEFORE INSERT ON waitlist FOR EACH ROW EXECUTE FUNCTION session_open();
CREATE TRIGGER tickets_session_open BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION session_open();
CREATE TRIGGER slots_session_open BEFORE INSERT ON slots FOR EACH ROW EXECUTE FUNCTION session_open();
