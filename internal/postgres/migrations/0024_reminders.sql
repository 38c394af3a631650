-- Reminders (issue 13, item 3), the twin of SQLite's 0024: the payment
-- deadline reminder of a waitlist offer or a draw win, and the reminder
-- the day before a confirmed booking. Each is written to the outbox at
-- most once, whichever sweep or node finds it due and however often: its
-- row carries a dedupe key (reminder:pay:<booking>, reminder:day:<booking>;
-- NULL for other messages, which are never deduplicated), unique, and the
-- insert does nothing when the key is there (INSERT ... ON CONFLICT DO
-- NOTHING needs no UPDATE, which the online role does not have on outbox).
-- The sweep finds what is due through indexes: held bookings by deadline
-- (bookings_held, 0001) joined to the draw result or waitlist entry that
-- made them, and confirmed bookings by date; the key's index skips those
-- already written.
ALTER TABLE outbox ADD COLUMN dedupe_key text;
CREATE UNIQUE INDEX outbox_dedupe ON outbox (dedupe_key);
CREATE INDEX draw_results_booking ON draw_results (booking_id) WHERE booking_id IS NOT NULL;
CREATE INDEX waitlist_booking ON waitlist (booking_id) WHERE booking_id IS NOT NULL;
CREATE INDEX bookings_confirmed_date ON bookings (date) WHERE status = 'confirmed';
