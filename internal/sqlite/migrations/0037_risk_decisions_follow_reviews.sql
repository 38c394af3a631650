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
