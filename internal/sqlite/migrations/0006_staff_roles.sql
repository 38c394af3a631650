-- Two roles for the floor (security, kiosk) and the links that scope a
-- login's work: a doctor to their doctor record, a nurse or desk to a
-- campus or department. SQLite changes a CHECK only by rebuilding the table;
-- nothing references staff, so the rebuild is safe with foreign keys on.
CREATE TABLE staff_new (
	id            INTEGER PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	role          TEXT NOT NULL CHECK (role IN ('registrar', 'nurse', 'doctor', 'admin', 'security', 'kiosk')),
	password_hash TEXT NOT NULL,
	doctor_id     INTEGER REFERENCES doctors (id),
	campus_id     INTEGER REFERENCES campuses (id),
	department_id INTEGER REFERENCES departments (id)
);
INSERT INTO staff_new (id, username, name, role, password_hash)
	SELECT id, username, name, role, password_hash FROM staff;
DROP TABLE staff;
ALTER TABLE staff_new RENAME TO staff;
