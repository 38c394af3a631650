-- Referral review for scarce specialists (issue 17 item 4). Admins say
-- which doctors or departments need review (referral_rules, append-only:
-- the latest row for a doctor or department is its rule, and the history
-- of who changed it stays). A patient's request holds a description and up
-- to 3 images, all sealed by the vault (a copied file shows neither); a
-- clinician decides it once. The database keeps: one pending request per
-- patient and doctor, a request decided only from pending and only once,
-- each outcome with what it needs (an approval its validity and decider, a
-- refusal its reason, a redirect its clinic), the request's own facts
-- never changed, and at most 3 images, never changed or removed. Sealed
-- values change only by re-sealing under a new key (their associated data
-- names the row's ref, so a value moved from another row does not open).
CREATE TABLE referral_rules (
	id            INTEGER PRIMARY KEY,
	department_id INTEGER REFERENCES departments (id),
	doctor_id     INTEGER REFERENCES doctors (id),
	required      INTEGER NOT NULL CHECK (required IN (0, 1)),
	validity_ms   INTEGER NOT NULL CHECK (validity_ms >= 0),
	staff_id      INTEGER REFERENCES staff (id), -- NULL: set-up
	created_ms    INTEGER NOT NULL,
	CHECK ((department_id IS NULL) <> (doctor_id IS NULL))
);
CREATE INDEX referral_rules_key ON referral_rules (department_id, doctor_id, id);
CREATE TRIGGER referral_rules_no_update BEFORE UPDATE ON referral_rules
BEGIN
	SELECT RAISE(ABORT, 'referral rules are append-only');
END;
CREATE TRIGGER referral_rules_no_delete BEFORE DELETE ON referral_rules
BEGIN
	SELECT RAISE(ABORT, 'referral rules are append-only');
END;

CREATE TABLE referrals (
	id                     INTEGER PRIMARY KEY,
	ref                    TEXT NOT NULL UNIQUE, -- the row's name in associated data
	account_id             INTEGER NOT NULL REFERENCES accounts (id),
	patient_id             INTEGER NOT NULL REFERENCES patients (id),
	doctor_id              INTEGER NOT NULL REFERENCES doctors (id),
	description_sealed     BLOB NOT NULL,
	status                 TEXT NOT NULL DEFAULT 'pending'
		CHECK (status IN ('pending', 'approved', 'declined', 'redirected', 'expired')),
	for_session_id         INTEGER REFERENCES sessions (id), -- the release it was made for; NULL: none planned
	shuts_ms               INTEGER,                          -- when that release shuts
	decide_by_ms           INTEGER NOT NULL,
	decided_by             INTEGER REFERENCES staff (id),   -- NULL while pending, and when it expired
	decided_ms             INTEGER,
	reason_sealed          BLOB,
	redirect_department_id INTEGER REFERENCES departments (id),
	valid_until_ms         INTEGER,
	screened               INTEGER NOT NULL DEFAULT 0 CHECK (screened IN (0, 1)),
	screen_score           REAL NOT NULL DEFAULT 0 CHECK (screen_score >= 0 AND screen_score <= 1),
	screen_label           TEXT NOT NULL DEFAULT '',
	screen_note_sealed     BLOB,
	created_ms             INTEGER NOT NULL,
	CHECK (decide_by_ms > created_ms),
	CHECK (status = 'pending' OR decided_ms IS NOT NULL),
	CHECK (status <> 'pending' OR (decided_ms IS NULL AND decided_by IS NULL AND valid_until_ms IS NULL)),
	CHECK (status <> 'approved' OR (decided_by IS NOT NULL AND valid_until_ms IS NOT NULL)),
	CHECK (status NOT IN ('declined', 'redirected') OR (decided_by IS NOT NULL AND reason_sealed IS NOT NULL)),
	CHECK ((status = 'redirected') = (redirect_department_id IS NOT NULL)),
	CHECK (status <> 'expired' OR decided_by IS NULL)
);
CREATE UNIQUE INDEX referrals_one_pending ON referrals (patient_id, doctor_id) WHERE status = 'pending';
CREATE INDEX referrals_queue ON referrals (status, decide_by_ms, id);
CREATE INDEX referrals_account ON referrals (account_id, id);
CREATE INDEX referrals_patient ON referrals (patient_id, doctor_id, id);
CREATE TRIGGER referrals_decide BEFORE UPDATE OF status, decided_by, decided_ms, redirect_department_id, valid_until_ms ON referrals
WHEN OLD.status <> 'pending' OR NEW.status = 'pending'
BEGIN
	SELECT RAISE(ABORT, 'a referral request is decided once, from pending');
END;
CREATE TRIGGER referrals_facts BEFORE UPDATE OF id, ref, account_id, patient_id, doctor_id, for_session_id,
	shuts_ms, decide_by_ms, created_ms ON referrals
WHEN NEW.id IS NOT OLD.id OR NEW.ref IS NOT OLD.ref OR NEW.account_id IS NOT OLD.account_id OR NEW.patient_id IS NOT OLD.patient_id
	OR NEW.doctor_id IS NOT OLD.doctor_id
	OR NEW.for_session_id IS NOT OLD.for_session_id OR NEW.shuts_ms IS NOT OLD.shuts_ms
	OR NEW.decide_by_ms IS NOT OLD.decide_by_ms OR NEW.created_ms IS NOT OLD.created_ms
BEGIN
	SELECT RAISE(ABORT, 'a referral request''s facts never change');
END;
CREATE TRIGGER referrals_screen BEFORE UPDATE OF screened, screen_score, screen_label, screen_note_sealed ON referrals
WHEN OLD.screened = 1 AND (NEW.screen_score IS NOT OLD.screen_score OR NEW.screen_label IS NOT OLD.screen_label
	OR NEW.screened IS NOT OLD.screened)
BEGIN
	SELECT RAISE(ABORT, 'a referral request is screened once');
END;
CREATE TRIGGER referrals_no_delete BEFORE DELETE ON referrals
BEGIN
	SELECT RAISE(ABORT, 'referral requests are kept');
END;

CREATE TABLE referral_images (
	id          INTEGER PRIMARY KEY,
	ref         TEXT NOT NULL UNIQUE,
	referral_id INTEGER NOT NULL REFERENCES referrals (id),
	n           INTEGER NOT NULL CHECK (n BETWEEN 1 AND 3),
	type        TEXT NOT NULL CHECK (type IN ('image/jpeg', 'image/png')),
	width       INTEGER NOT NULL CHECK (width > 0),
	height      INTEGER NOT NULL CHECK (height > 0),
	data_sealed BLOB NOT NULL,
	created_ms  INTEGER NOT NULL,
	UNIQUE (referral_id, n)
);
CREATE TRIGGER referral_images_no_update BEFORE UPDATE OF id, ref, referral_id, n, type, width, height, created_ms ON referral_images
BEGIN
	SELECT RAISE(ABORT, 'referral images never change');
END;
CREATE TRIGGER referral_images_no_delete BEFORE DELETE ON referral_images
BEGIN
	SELECT RAISE(ABORT, 'referral images are kept');
END;
