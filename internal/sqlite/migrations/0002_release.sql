-- Fair release: per-session releases with committed draw seeds, draw
-- entries and results, waitlists, embargoed freed slots, reserved quotas,
-- priority patients, cancellations kept for the anti-laundering checks,
-- risk events, and the calls made in each session.

ALTER TABLE slots ADD COLUMN quota TEXT NOT NULL DEFAULT 'general'
	CHECK (quota IN ('general', 'priority', 'referral', 'extra'));
ALTER TABLE bookings ADD COLUMN priority TEXT;

CREATE TABLE releases (
	session_id      INTEGER PRIMARY KEY REFERENCES sessions (id),
	mode            TEXT NOT NULL CHECK (mode IN ('first_come', 'draw')),
	opens_ms        INTEGER NOT NULL,
	entry_closes_ms INTEGER,
	commitment      BLOB,
	seed_sealed     BLOB,
	CHECK (mode = 'first_come' OR (entry_closes_ms > opens_ms AND commitment IS NOT NULL AND seed_sealed IS NOT NULL))
);
CREATE INDEX releases_due ON releases (entry_closes_ms) WHERE mode = 'draw';

-- One entry per patient identity per draw.
CREATE TABLE draw_entries (
	id          INTEGER PRIMARY KEY,
	session_id  INTEGER NOT NULL REFERENCES releases (session_id),
	patient_id  INTEGER NOT NULL REFERENCES patients (id),
	account_id  INTEGER NOT NULL REFERENCES accounts (id),
	release_day TEXT NOT NULL,
	hash        BLOB NOT NULL UNIQUE,
	created_ms  INTEGER NOT NULL,
	UNIQUE (session_id, patient_id)
);
CREATE INDEX draw_entries_account ON draw_entries (account_id, release_day);

-- A draw runs once: the row is its claim and its published record.
CREATE TABLE draw_runs (
	session_id INTEGER PRIMARY KEY REFERENCES releases (session_id),
	drawn_ms   INTEGER NOT NULL,
	record     TEXT NOT NULL
);

CREATE TABLE draw_results (
	entry_id   INTEGER PRIMARY KEY REFERENCES draw_entries (id),
	rank       INTEGER NOT NULL,
	outcome    TEXT NOT NULL CHECK (outcome IN ('won', 'lost', 'skipped')),
	reason     TEXT NOT NULL DEFAULT '',
	booking_id INTEGER REFERENCES bookings (id)
);

CREATE TABLE waitlist (
	id         INTEGER PRIMARY KEY,
	session_id INTEGER REFERENCES sessions (id), -- NULL: any session of the doctor on the date
	doctor_id  INTEGER NOT NULL REFERENCES doctors (id),
	date       TEXT NOT NULL,
	patient_id INTEGER NOT NULL REFERENCES patients (id),
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	created_ms INTEGER NOT NULL,
	closed_ms  INTEGER,
	outcome    TEXT,
	booking_id INTEGER REFERENCES bookings (id)
);
-- A patient waits at most once for a doctor on a date.
CREATE UNIQUE INDEX waitlist_open ON waitlist (patient_id, doctor_id, date) WHERE closed_ms IS NULL;
CREATE INDEX waitlist_doctor_date ON waitlist (doctor_id, date) WHERE closed_ms IS NULL;
CREATE INDEX waitlist_account ON waitlist (account_id);

-- A closed waitlist entry stays closed.
CREATE TRIGGER waitlist_closed BEFORE UPDATE ON waitlist
WHEN OLD.closed_ms IS NOT NULL
BEGIN
	SELECT RAISE(ABORT, 'waitlist entry already closed');
END;

-- A freed slot nobody waited for stays out of first-come booking until
-- until_ms.
CREATE TABLE slot_embargoes (
	slot_id  INTEGER NOT NULL REFERENCES slots (id),
	until_ms INTEGER NOT NULL
);
CREATE INDEX slot_embargoes_slot ON slot_embargoes (slot_id, until_ms);

CREATE TABLE cancellations (
	id         INTEGER PRIMARY KEY,
	session_id INTEGER NOT NULL REFERENCES sessions (id),
	account_id INTEGER NOT NULL,
	device     TEXT NOT NULL DEFAULT '',
	addr       TEXT NOT NULL DEFAULT '',
	at_ms      INTEGER NOT NULL
);
CREATE INDEX cancellations_session ON cancellations (session_id, at_ms);

CREATE TABLE risk_events (
	id         INTEGER PRIMARY KEY,
	at_ms      INTEGER NOT NULL,
	kind       TEXT NOT NULL,
	account_id INTEGER NOT NULL,
	session_id INTEGER NOT NULL,
	detail     TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE calls (
	id         INTEGER PRIMARY KEY,
	session_id INTEGER NOT NULL REFERENCES sessions (id),
	booking_id INTEGER NOT NULL REFERENCES bookings (id),
	priority   INTEGER NOT NULL,
	at_ms      INTEGER NOT NULL
);
CREATE INDEX calls_session ON calls (session_id, id);
