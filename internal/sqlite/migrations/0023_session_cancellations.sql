-- A session the hospital cancelled (停诊): the row is the cancellation, kept
-- for good. While it stands the database refuses every new claim on the
-- session — a booking, a draw entry, a waitlist place, a ticket, an extra
-- slot — and any move of a booking to confirmed, checked in or called,
-- whoever writes: the API, the desk, a downtime-kit import.
CREATE TABLE session_cancellations (
	session_id INTEGER PRIMARY KEY REFERENCES sessions (id),
	at_ms      INTEGER NOT NULL,
	staff_id   INTEGER REFERENCES staff (id),
	reason     TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 500)
);
CREATE TRIGGER session_cancellations_no_update BEFORE UPDATE ON session_cancellations
BEGIN
	SELECT RAISE(ABORT, 'session cancellations are kept');
END;
CREATE TRIGGER session_cancellations_no_delete BEFORE DELETE ON session_cancellations
BEGIN
	SELECT RAISE(ABORT, 'session cancellations are kept');
END;

CREATE TRIGGER bookings_session_cancelled BEFORE INSERT ON bookings
WHEN EXISTS (SELECT 1 FROM session_cancellations WHERE session_id = NEW.session_id)
BEGIN
	SELECT RAISE(ABORT, 'session is cancelled');
END;
CREATE TRIGGER bookings_move_session_cancelled BEFORE UPDATE OF status ON bookings
WHEN NEW.status IN ('confirmed', 'checked_in', 'called') AND NEW.status <> OLD.status
	AND EXISTS (SELECT 1 FROM session_cancellations WHERE session_id = NEW.session_id)
BEGIN
	SELECT RAISE(ABORT, 'session is cancelled');
END;
CREATE TRIGGER draw_entries_session_cancelled BEFORE INSERT ON draw_entries
WHEN EXISTS (SELECT 1 FROM session_cancellations WHERE session_id = NEW.session_id)
BEGIN
	SELECT RAISE(ABORT, 'session is cancelled');
END;
CREATE TRIGGER waitlist_session_cancelled BEFORE INSERT ON waitlist
WHEN EXISTS (SELECT 1 FROM session_cancellations WHERE session_id = NEW.session_id)
BEGIN
	SELECT RAISE(ABORT, 'session is cancelled');
END;
CREATE TRIGGER tickets_session_cancelled BEFORE INSERT ON tickets
WHEN EXISTS (SELECT 1 FROM session_cancellations WHERE session_id = NEW.session_id)
BEGIN
	SELECT RAISE(ABORT, 'session is cancelled');
END;
CREATE TRIGGER slots_session_cancelled BEFORE INSERT ON slots
WHEN EXISTS (SELECT 1 FROM session_cancellations WHERE session_id = NEW.session_id)
BEGIN
	SELECT RAISE(ABORT, 'session is cancelled');
END;
