-- Payments become a state machine (storage.PaymentStatus): an online
-- payment is recorded as a pending intent before the provider is asked, is
-- settled together with its booking's confirmation, and is refunded through
-- refunding, so that a crash, a lost answer or a failed commit anywhere
-- leaves a row saying what to finish. A booking may now have several
-- payments (a declined one, a refunded one) but at most one live one.
--
-- SQLite cannot drop the old one-payment-per-booking constraint, so the
-- table is rebuilt. Every old row is a payment that confirmed its booking;
-- one whose booking was later cancelled was refunded by a call whose outcome
-- the old schema did not record, so it is refunding: the sweep refunds it
-- again (refunds are idempotent by key) and records the outcome.

CREATE TABLE payments_v4 (
	key          TEXT PRIMARY KEY,
	booking_id   INTEGER NOT NULL REFERENCES bookings (id),
	amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
	provider     TEXT NOT NULL,
	provider_ref TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL CHECK (status IN ('pending', 'settled', 'declined', 'refunding', 'refunded')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	created_ms   INTEGER NOT NULL,
	updated_ms   INTEGER NOT NULL
);
INSERT INTO payments_v4 (key, booking_id, amount_cents, provider, provider_ref, status, created_ms, updated_ms)
	SELECT p.key, p.booking_id, p.amount_cents, p.provider, p.provider_ref,
		CASE WHEN b.status = 'cancelled' THEN 'refunding' ELSE 'settled' END, p.created_ms, p.created_ms
	FROM payments p JOIN bookings b ON b.id = p.booking_id;
DROP TABLE payments;
ALTER TABLE payments_v4 RENAME TO payments;

-- At most one live payment per booking: one charge confirms it, and a
-- second key cannot start charging while one is pending.
CREATE UNIQUE INDEX payments_live ON payments (booking_id) WHERE status IN ('pending', 'settled');
CREATE INDEX payments_booking ON payments (booking_id);
CREATE INDEX payments_due ON payments (updated_ms) WHERE status IN ('pending', 'refunding');

-- A payment starts pending, or settled onto a confirmed booking (the desk).
CREATE TRIGGER payments_insert BEFORE INSERT ON payments
WHEN NEW.status NOT IN ('pending', 'settled')
	OR (NEW.status = 'settled' AND NOT EXISTS (SELECT 1 FROM bookings WHERE id = NEW.booking_id AND status = 'confirmed'))
BEGIN
	SELECT RAISE(ABORT, 'illegal payment: it starts pending, or settled onto a confirmed booking');
END;

-- Only the lifecycle's transitions; a payment's terms never change, its
-- provider reference is set once, and it settles only a confirmed booking.
CREATE TRIGGER payments_transition BEFORE UPDATE ON payments
WHEN NEW.key <> OLD.key OR NEW.booking_id <> OLD.booking_id OR NEW.amount_cents <> OLD.amount_cents
	OR NEW.provider <> OLD.provider OR NEW.created_ms <> OLD.created_ms
	OR (OLD.provider_ref <> '' AND NEW.provider_ref <> OLD.provider_ref)
	OR (NEW.status <> OLD.status AND NOT (
		(OLD.status = 'pending'   AND NEW.status IN ('settled', 'declined', 'refunding', 'refunded')) OR
		(OLD.status = 'settled'   AND NEW.status = 'refunding') OR
		(OLD.status = 'refunding' AND NEW.status = 'refunded')))
	OR (NEW.status = 'settled' AND OLD.status <> 'settled'
		AND NOT EXISTS (SELECT 1 FROM bookings WHERE id = NEW.booking_id AND status = 'confirmed'))
BEGIN
	SELECT RAISE(ABORT, 'illegal payment change');
END;

CREATE TRIGGER payments_kept BEFORE DELETE ON payments
BEGIN
	SELECT RAISE(ABORT, 'payments are kept');
END;
