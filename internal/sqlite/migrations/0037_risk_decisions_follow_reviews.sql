-- A risk decision follows the reviewers' record (issue 17, the adversarial
-- review): a decision stored as reviewed is the account's latest review's
-- action, and one stored by the score is never milder than it (the policy
-- never is: risk.Policy.Decide), so no write unblocks an account, or
-- approves it, without a reviewer's decision on the append-only record.
-- Held entries are released only while the latest review approves
-- (ReleaseHeldEntries' query; PostgreSQL's release_held_entries).
CREATE TRIGGER risk_accounts_follow_reviews_insert BEFORE INSERT ON risk_accounts
WHEN EXISTS (SELECT 1 FROM (SELECT action FROM risk_reviews WHERE account_id = NEW.account_id ORDER BY id DESC LIMIT 1) l
		WHERE CASE WHEN NEW.reviewed THEN l.action <> NEW.action
			ELSE NEW.level < CASE l.action WHEN 'allow' THEN 0 WHEN 'limit' THEN 2 ELSE 4 END END)
	OR (NEW.reviewed AND NOT EXISTS (SELECT 1 FROM risk_reviews WHERE account_id = NEW.account_id))
BEGIN
	SELECT RAISE(ABORT, 'a risk decision follows the latest review of its account');
END;
CREATE TRIGGER risk_accounts_follow_reviews_update BEFORE UPDATE ON risk_accounts
WHEN EXISTS (SELECT 1 FROM (SELECT action FROM risk_reviews WHERE account_id = NEW.account_id ORDER BY id DESC LIMIT 1) l
		WHERE CASE WHEN NEW.reviewed THEN l.action <> NEW.action
			ELSE NEW.level < CASE l.action WHEN 'allow' THEN 0 WHEN 'limit' THEN 2 ELSE 4 END END)
	OR (NEW.reviewed AND NOT EXISTS (SELECT 1 FROM risk_reviews WHERE account_id = NEW.account_id))
BEGIN
	SELECT RAISE(ABORT, 'a risk decision follows the latest review of its account');
END;

-- An account held or blocked takes no place, whatever writes it: its draw
-- entries are stored held (a blocked account's not at all), and no booking
-- carries it. The use cases read the decision in the same transaction
-- (app/risk.go riskGate), so they never meet these; a walk-in's booking
-- has no account.
CREATE TRIGGER draw_entries_risk BEFORE INSERT ON draw_entries
WHEN EXISTS (SELECT 1 FROM risk_accounts r WHERE r.account_id = NEW.account_id
	AND (r.action = 'block' OR r.action = 'hold' AND NOT NEW.held))
BEGIN
	SELECT RAISE(ABORT, 'an account held for review enters draws held, and a blocked one not at all');
END;
CREATE TRIGGER bookings_risk BEFORE INSERT ON bookings
WHEN NEW.account_id IS NOT NULL AND EXISTS (SELECT 1 FROM risk_accounts r WHERE r.account_id = NEW.account_id
	AND r.action IN ('hold', 'block'))
BEGIN
	SELECT RAISE(ABORT, 'an account held for review or blocked takes no place');
END;
