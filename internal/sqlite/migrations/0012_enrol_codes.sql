-- One-time enrolment codes (issue 12, items 1-2): an account without a
-- confirmed second factor enrols only with the code an admin handed out,
-- so that a stolen password cannot enrol the thief's authenticator. Only a
-- keyed hash is kept, with its expiry; confirming an enrolment spends it.
ALTER TABLE staff ADD COLUMN enrol_code_hash BLOB CHECK (enrol_code_hash IS NULL OR length(enrol_code_hash) = 32);
ALTER TABLE staff ADD COLUMN enrol_code_expires_ms INTEGER;
