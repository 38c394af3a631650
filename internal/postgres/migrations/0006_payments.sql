-- Payments become a state machine, the PostgreSQL twin of SQLite's 0004
-- (storage.PaymentStatus): an online payment is recorded as a pending intent
-- before the provider is asked, is settled together with its booking's
-- confirmation, and is refunded through refunding, so that a crash, a lost
-- answer or a failed commit anywhere leaves a row saying what to finish. A
-- booking may now have several payments but at most one live one. Every old
-- row confirmed its booking; one whose booking was later cancelled was
-- refunded by a call whose outcome was not recorded, so it is refunding: the
-- sweep refunds it again (refunds are idempotent by key). Changes go through
-- move_payment and payment_attempt, like every other update.
SET search_path = fairslot;

ALTER TABLE payments DROP CONSTRAINT payments_booking_id_key;
ALTER TABLE payments ALTER COLUMN provider_ref SET DEFAULT '';
ALTER TABLE payments ADD COLUMN status text NOT NULL DEFAULT 'settled'
	CHECK (status IN ('pending', 'settled', 'declined', 'refunding', 'refunded'));
ALTER TABLE payments ADD COLUMN attempts int NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN updated_ms bigint;
UPDATE payments p SET updated_ms = p.created_ms,
	status = CASE WHEN b.status = 'cancelled' THEN 'refunding' ELSE 'settled' END
	FROM bookings b WHERE b.id = p.booking_id;
ALTER TABLE payments ALTER COLUMN updated_ms SET NOT NULL, ALTER COLUMN status DROP DEFAULT;

-- At most one live payment per booking: one charge confirms it, and a
-- second key cannot start charging while one is pending.
CREATE UNIQUE INDEX payments_live ON payments (booking_id) WHERE status IN ('pending', 'settled');
CREATE INDEX payments_booking ON payments (booking_id);
CREATE INDEX payments_due ON payments (updated_ms) WHERE status IN ('pending', 'refunding');

-- A payment starts pending, or settled onto a confirmed booking (the desk);
-- only the lifecycle's transitions; its terms never change, its provider
-- reference is set once, it settles only a confirmed booking, and it is
-- never deleted — whoever writes.
CREATE FUNCTION payments_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		RAISE EXCEPTION 'payments are kept' USING ERRCODE = 'FS003';
	END IF;
	IF TG_OP = 'INSERT' THEN
		IF NEW.status NOT IN ('pending', 'settled') THEN
			RAISE EXCEPTION 'a payment starts pending or settled, not %', NEW.status USING ERRCODE = 'FS003';
		END IF;
	ELSE
		IF NEW.key <> OLD.key OR NEW.booking_id <> OLD.booking_id OR NEW.amount_cents <> OLD.amount_cents
			OR NEW.provider <> OLD.provider OR NEW.created_ms <> OLD.created_ms
			OR (OLD.provider_ref <> '' AND NEW.provider_ref <> OLD.provider_ref) THEN
			RAISE EXCEPTION 'a payment''s terms never change' USING ERRCODE = 'FS003';
		END IF;
		IF NEW.status <> OLD.status AND NOT (
			(OLD.status = 'pending'   AND NEW.status IN ('settled', 'declined', 'refunding', 'refunded')) OR
			(OLD.status = 'settled'   AND NEW.status = 'refunding') OR
			(OLD.status = 'refunding' AND NEW.status = 'refunded')) THEN
			RAISE EXCEPTION 'illegal payment transition from % to %', OLD.status, NEW.status USING ERRCODE = 'FS003';
		END IF;
	END IF;
	IF NEW.status = 'settled' AND (TG_OP = 'INSERT' OR OLD.status <> 'settled')
		AND NOT EXISTS (SELECT 1 FROM bookings WHERE id = NEW.booking_id AND status = 'confirmed') THEN
		RAISE EXCEPTION 'a payment settles only a confirmed booking' USING ERRCODE = 'FS003';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER payments_guard BEFORE INSERT OR UPDATE OR DELETE ON payments FOR EACH ROW EXECUTE FUNCTION payments_guard();

CREATE FUNCTION move_payment(p_key text, p_from text, p_to text, p_at bigint, p_ref text) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH moved AS (
		UPDATE payments SET status = p_to, updated_ms = p_at, attempts = 0,
			provider_ref = CASE WHEN p_ref = '' THEN provider_ref ELSE p_ref END
		WHERE key = p_key AND status = p_from RETURNING 1)
	SELECT count(*) FROM moved
$$;
CREATE FUNCTION payment_attempt(p_key text, p_at bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH tried AS (
		UPDATE payments SET attempts = attempts + 1, updated_ms = p_at WHERE key = p_key RETURNING 1)
	SELECT count(*) FROM tried
$$;
