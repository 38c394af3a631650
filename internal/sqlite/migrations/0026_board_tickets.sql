-- A department's board shows the tickets of all its rooms: a ticket carries
-- its department, date and its session's prefix (A, B, …), and is unique
-- on them with its number, so two rooms checking in at once can never put
-- the same label on one board. Earlier tickets get a letter per session of
-- their department's day, in session order.
ALTER TABLE tickets ADD COLUMN department_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN date TEXT NOT NULL DEFAULT '';
ALTER TABLE tickets ADD COLUMN prefix TEXT NOT NULL DEFAULT 'A';
UPDATE tickets SET department_id = (SELECT department_id FROM bookings WHERE id = tickets.booking_id),
	date = (SELECT date FROM bookings WHERE id = tickets.booking_id);
UPDATE tickets SET prefix = (SELECT char(64 + count(DISTINCT k.session_id)) FROM tickets k
	WHERE k.department_id = tickets.department_id AND k.date = tickets.date AND k.session_id <= tickets.session_id);
CREATE UNIQUE INDEX tickets_board ON tickets (department_id, date, prefix, number);

-- A recall is a call again: the board shows it anew. It is not a turn in
-- the priority interleave (RecentCalls skips it).
ALTER TABLE calls ADD COLUMN recall INTEGER NOT NULL DEFAULT 0;
CREATE INDEX calls_booking ON calls (booking_id, at_ms);
