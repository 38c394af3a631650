-- The whole first schema. Times are Unix milliseconds; dates are the
-- hospital's local YYYY-MM-DD. Personal data is stored only sealed (*_sealed)
-- and looked up only by keyed blind index (*_index).

CREATE TABLE hospitals (
	id   INTEGER PRIMARY KEY,
	name TEXT NOT NULL
);

CREATE TABLE campuses (
	id          INTEGER PRIMARY KEY,
	hospital_id INTEGER NOT NULL REFERENCES hospitals (id),
	name        TEXT NOT NULL
);

CREATE TABLE departments (
	id        INTEGER PRIMARY KEY,
	campus_id INTEGER NOT NULL REFERENCES campuses (id),
	code      TEXT NOT NULL UNIQUE,
	name      TEXT NOT NULL
);

CREATE TABLE doctors (
	id            INTEGER PRIMARY KEY,
	department_id INTEGER NOT NULL REFERENCES departments (id),
	name          TEXT NOT NULL,
	title         TEXT NOT NULL CHECK (title IN ('expert', 'general'))
);

CREATE TABLE sessions (
	id            INTEGER PRIMARY KEY,
	doctor_id     INTEGER NOT NULL REFERENCES doctors (id),
	department_id INTEGER NOT NULL REFERENCES departments (id),
	date          TEXT NOT NULL,
	period        TEXT NOT NULL CHECK (period IN ('morning', 'afternoon')),
	start_ms      INTEGER NOT NULL,
	end_ms        INTEGER NOT NULL CHECK (end_ms > start_ms),
	room          TEXT NOT NULL DEFAULT '',
	fee_cents     INTEGER NOT NULL CHECK (fee_cents >= 0),
	UNIQUE (doctor_id, date, period)
);
CREATE INDEX sessions_department_date ON sessions (department_id, date);

CREATE TABLE slots (
	id         INTEGER PRIMARY KEY,
	session_id INTEGER NOT NULL REFERENCES sessions (id),
	number     INTEGER NOT NULL,
	start_ms   INTEGER NOT NULL,
	end_ms     INTEGER NOT NULL,
	CHECK (end_ms > start_ms AND end_ms - start_ms <= 1800000),
	UNIQUE (session_id, number)
);

CREATE TABLE accounts (
	id           INTEGER PRIMARY KEY,
	ref          TEXT NOT NULL UNIQUE,
	phone_index  BLOB NOT NULL UNIQUE,
	phone_sealed BLOB NOT NULL,
	created_ms   INTEGER NOT NULL
);

CREATE TABLE patients (
	id           INTEGER PRIMARY KEY,
	ref          TEXT NOT NULL UNIQUE,
	id_type      TEXT NOT NULL,
	id_index     BLOB NOT NULL,
	id_sealed    BLOB NOT NULL,
	name_sealed  BLOB NOT NULL,
	phone_index  BLOB,
	phone_sealed BLOB,
	birth_sealed BLOB,
	created_ms   INTEGER NOT NULL,
	UNIQUE (id_type, id_index)
);
CREATE INDEX patients_phone ON patients (phone_index);

CREATE TABLE bindings (
	account_id INTEGER NOT NULL REFERENCES accounts (id),
	patient_id INTEGER NOT NULL REFERENCES patients (id),
	created_ms INTEGER NOT NULL,
	PRIMARY KEY (account_id, patient_id)
);
CREATE INDEX bindings_patient ON bindings (patient_id);

CREATE TABLE bookings (
	id            INTEGER PRIMARY KEY,
	code          TEXT NOT NULL UNIQUE,
	slot_id       INTEGER NOT NULL REFERENCES slots (id),
	session_id    INTEGER NOT NULL REFERENCES sessions (id),
	department_id INTEGER NOT NULL REFERENCES departments (id),
	date          TEXT NOT NULL,
	patient_id    INTEGER NOT NULL REFERENCES patients (id),
	account_id    INTEGER REFERENCES accounts (id),
	channel       TEXT NOT NULL CHECK (channel IN ('online', 'on_site')),
	status        TEXT NOT NULL CHECK (status IN ('held', 'confirmed', 'checked_in', 'called', 'completed', 'cancelled', 'expired', 'no_show')),
	held_until_ms INTEGER,
	fee_cents     INTEGER NOT NULL CHECK (fee_cents >= 0),
	missed_calls  INTEGER NOT NULL DEFAULT 0,
	request_key   TEXT,
	cancelled_by  TEXT,
	created_ms    INTEGER NOT NULL,
	updated_ms    INTEGER NOT NULL
);
-- No slot is ever held by two bookings.
CREATE UNIQUE INDEX bookings_slot_taken ON bookings (slot_id)
	WHERE status NOT IN ('cancelled', 'expired');
-- A patient holds at most one place in a session.
CREATE UNIQUE INDEX bookings_patient_session ON bookings (patient_id, session_id)
	WHERE status IN ('held', 'confirmed', 'checked_in', 'called');
-- A replayed hold request finds the booking it made.
CREATE UNIQUE INDEX bookings_request ON bookings (account_id, request_key)
	WHERE request_key IS NOT NULL;
CREATE INDEX bookings_patient_date ON bookings (patient_id, date);
CREATE INDEX bookings_account ON bookings (account_id);
CREATE INDEX bookings_session_status ON bookings (session_id, status);
CREATE INDEX bookings_held ON bookings (held_until_ms) WHERE status = 'held';

-- Only the lifecycle's transitions are legal, whoever writes.
CREATE TRIGGER bookings_transition BEFORE UPDATE OF status ON bookings
WHEN NEW.status <> OLD.status AND NOT (
	(OLD.status = 'held'       AND NEW.status IN ('confirmed', 'cancelled', 'expired')) OR
	(OLD.status = 'confirmed'  AND NEW.status IN ('checked_in', 'cancelled', 'no_show')) OR
	(OLD.status = 'checked_in' AND NEW.status IN ('called', 'no_show')) OR
	(OLD.status = 'called'     AND NEW.status IN ('completed', 'checked_in', 'no_show'))
)
BEGIN
	SELECT RAISE(ABORT, 'illegal booking transition');
END;

CREATE TABLE payments (
	key          TEXT PRIMARY KEY,
	booking_id   INTEGER NOT NULL UNIQUE REFERENCES bookings (id),
	amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
	provider     TEXT NOT NULL,
	provider_ref TEXT NOT NULL,
	created_ms   INTEGER NOT NULL
);

CREATE TABLE tickets (
	id         INTEGER PRIMARY KEY,
	booking_id INTEGER NOT NULL UNIQUE REFERENCES bookings (id),
	session_id INTEGER NOT NULL REFERENCES sessions (id),
	number     INTEGER NOT NULL,
	position   REAL NOT NULL,
	issued_ms  INTEGER NOT NULL,
	UNIQUE (session_id, number)
);

CREATE TABLE staff (
	id            INTEGER PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	role          TEXT NOT NULL CHECK (role IN ('registrar', 'nurse', 'doctor', 'admin')),
	password_hash TEXT NOT NULL
);

CREATE TABLE login_codes (
	id          INTEGER PRIMARY KEY,
	phone_index BLOB NOT NULL,
	code_hash   BLOB NOT NULL,
	expires_ms  INTEGER NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	used        INTEGER NOT NULL DEFAULT 0,
	created_ms  INTEGER NOT NULL
);
CREATE INDEX login_codes_phone ON login_codes (phone_index, created_ms);

CREATE TABLE auth_tokens (
	hash       BLOB PRIMARY KEY,
	kind       TEXT NOT NULL CHECK (kind IN ('account', 'staff')),
	subject_id INTEGER NOT NULL,
	expires_ms INTEGER NOT NULL,
	created_ms INTEGER NOT NULL
);

CREATE TABLE outbox (
	id               INTEGER PRIMARY KEY,
	ref              TEXT NOT NULL UNIQUE,
	channel          TEXT NOT NULL,
	recipient_sealed BLOB NOT NULL,
	body_sealed      BLOB NOT NULL,
	created_ms       INTEGER NOT NULL,
	sent_ms          INTEGER
);

CREATE TABLE audit_events (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	at_ms      INTEGER NOT NULL,
	actor      TEXT NOT NULL,
	action     TEXT NOT NULL,
	subject    TEXT NOT NULL,
	detail     TEXT NOT NULL DEFAULT '{}',
	request_id TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;

CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
