-- A session's time windows edited from the admin page (issue 14 item 5).
-- A window is the slots that share a start and an end; an edit moves a
-- window's slots to new times, removes a window's slots or adds slots.
-- Whoever writes, the database keeps what a patient was told: a slot a
-- booking holds (one not cancelled or expired) never changes its times; a
-- slot stays inside its session; and a window never overlaps another
-- (an extra place, 加号, is added at the session's end as it always was).
CREATE TRIGGER slots_booked_stay BEFORE UPDATE OF start_ms, end_ms ON slots
WHEN (NEW.start_ms <> OLD.start_ms OR NEW.end_ms <> OLD.end_ms)
	AND EXISTS (SELECT 1 FROM bookings b WHERE b.slot_id = OLD.id AND b.status NOT IN ('cancelled', 'expired'))
BEGIN
	SELECT RAISE(ABORT, 'a booked window cannot move');
END;
CREATE TRIGGER slots_window_inside BEFORE UPDATE OF start_ms, end_ms ON slots
WHEN EXISTS (SELECT 1 FROM sessions s WHERE s.id = NEW.session_id AND (NEW.start_ms < s.start_ms OR NEW.end_ms > s.end_ms))
BEGIN
	SELECT RAISE(ABORT, 'a window lies outside its session');
END;
CREATE TRIGGER slots_window_move_overlap BEFORE UPDATE OF start_ms, end_ms ON slots
WHEN EXISTS (SELECT 1 FROM slots o WHERE o.session_id = NEW.session_id AND o.id <> NEW.id
	AND o.start_ms < NEW.end_ms AND NEW.start_ms < o.end_ms
	AND NOT (o.start_ms = NEW.start_ms AND o.end_ms = NEW.end_ms)
	AND NOT (o.start_ms = OLD.start_ms AND o.end_ms = OLD.end_ms))
BEGIN
	SELECT RAISE(ABORT, 'time windows overlap');
END;
CREATE TRIGGER slots_window_insert BEFORE INSERT ON slots
WHEN NEW.quota <> 'extra' AND EXISTS (SELECT 1 FROM slots o WHERE o.session_id = NEW.session_id
	AND o.start_ms < NEW.end_ms AND NEW.start_ms < o.end_ms
	AND NOT (o.start_ms = NEW.start_ms AND o.end_ms = NEW.end_ms))
BEGIN
	SELECT RAISE(ABORT, 'time windows overlap');
END;
