-- A risk decision follows the reviewers' record (issue 17, the adversarial
-- review), the twin of SQLite's 0037: put_risk_account — the online role's
-- only way to write risk_accounts — refuses a decision stored as reviewed
-- that is not the account's latest review's action, and one stored by the
-- score that is milder than it (the policy never is: risk.Policy.Decide);
-- release_held_entries releases only while the latest review approves. A
-- session of the online role can no longer unblock an account or release
-- its held entries without a reviewer's decision on the append-only record.
CREATE FUNCTION risk_review_level(p_action text) RETURNS int LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p_action WHEN 'allow' THEN 0 WHEN 'challenge' THEN 1 WHEN 'limit' THEN 2 WHEN 'hold' THEN 3 WHEN 'block' THEN 4 END
$$;

CREATE FUNCTION risk_accounts_follow_reviews() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
DECLARE
	latest text;
BEGIN
	SELECT action INTO latest FROM risk_reviews WHERE account_id = NEW.account_id ORDER BY id DESC LIMIT 1;
	IF NEW.reviewed AND latest IS DISTINCT FROM NEW.action
		OR NOT NEW.reviewed AND latest IS NOT NULL AND risk_review_level(NEW.action) < risk_review_level(latest) THEN
		RAISE EXCEPTION 'a risk decision follows the latest review of its account' USING ERRCODE = 'FSK01';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER risk_accounts_follow_reviews BEFORE INSERT OR UPDATE ON risk_accounts
	FOR EACH ROW EXECUTE FUNCTION risk_accounts_follow_reviews();

CREATE OR REPLACE FUNCTION release_held_entries(p_account bigint, p_now bigint) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = fairslot, pg_temp AS $$
	WITH u AS (UPDATE draw_entries e SET held = false
		FROM releases r
		WHERE e.account_id = p_account AND e.held AND r.session_id = e.session_id AND r.entry_closes_ms > p_now
		AND NOT EXISTS (SELECT 1 FROM draw_runs d WHERE d.session_id = e.session_id)
		AND (SELECT v.action FROM risk_reviews v WHERE v.account_id = p_account ORDER BY v.id DESC LIMIT 1) = 'allow'
		RETURNING 1)
	SELECT count(*) FROM u
$$;

-- An account held or blocked takes no place, whatever writes it: its draw
-- entries are stored held (a blocked account's not at all), and no booking
-- carries it. The use cases read the decision in the same transaction
-- (app/risk.go riskGate), so they never meet these; a walk-in's booking
-- has no account.
CREATE FUNCTION draw_entries_risk() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM risk_accounts r WHERE r.account_id = NEW.account_id
		AND (r.action = 'block' OR r.action = 'hold' AND NOT NEW.held)) THEN
		RAISE EXCEPTION 'an account held for review enters draws held, and a blocked one not at all' USING ERRCODE = 'FSK01';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER draw_entries_risk BEFORE INSERT ON draw_entries FOR EACH ROW EXECUTE FUNCTION draw_entries_risk();

CREATE FUNCTION bookings_risk() RETURNS trigger LANGUAGE plpgsql SET search_path = fairslot, pg_temp AS $$
BEGIN
	IF NEW.account_id IS NOT NULL AND EXISTS (SELECT 1 FROM risk_accounts r WHERE r.account_id = NEW.account_id
		AND r.action IN ('hold', 'block')) THEN
		RAISE EXCEPTION 'an account held for review or blocked takes no place' USING ERRCODE = 'FSK01';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER bookings_risk BEFORE INSERT ON bookings FOR EACH ROW EXECUTE FUNCTION bookings_risk();
