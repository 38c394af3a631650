-- A department's board shows the tickets of all its rooms: a ticket carries
-- its department, date and its session's prefix (A, B, …), and is unique
-- on them with its number, so two rooms checking in at once can never put
-- the same label on one board. Earlier tickets get a letter per session of
-- their department's day, in session order.
ALTER TABLE tickets ADD COLUMN department_id bigint, ADD COLUMN date text, ADD COLUMN prefix text NOT NULL DEFAULT 'A';
UPDATE tickets k SET department_id = b.department_id, date = b.date FROM bookings b WHERE b.id = k.booking_id;
UPDATE tickets k SET prefix = (SELECT chr(64 + count(DISTINCT j.session_id)::int) FROM tickets j
	WHERE j.department_id = k.department_id AND j.date = k.date AND j.session_id <= k.session_id);
ALTER TABLE tickets ALTER COLUMN department_id SET NOT NULL, ALTER COLUMN date SET NOT NULL, ALTER COLUMN prefix DROP DEFAULT,
	ADD CONSTRAINT tickets_board UNIQUE (department_id, date, prefix, number);

-- A recall is a call again: the board shows it anew. It is not a turn in
-- the priority interleave (RecentCalls skips it).
ALTER TABLE calls ADD COLUMN recall boolean NOT NULL DEFAULT false;
CREATE INDEX calls_booking ON calls (booking_id, at_ms);
