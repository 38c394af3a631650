-- FHIR R4 Subscriptions (issue 16, item 4): a registered system client asks
-- to be told when Appointments change (rest-hook, criteria Appointment,
-- Appointment?practitioner= or Appointment?service-type=). The change is
-- fanned out in the transaction that makes it: the audit record of every
-- booking or waitlist change inserts one delivery per matching active
-- subscription of a client not revoked, keyed by (subscription, audit
-- seq) — unique, so one change is delivered at most once per subscription
-- whatever the retries, sweeps or restarts. The job leader sends the
-- deliveries with retries and backoff, as the outbox's; a delivery that
-- exhausts its attempts puts its subscription in error, with the reason.
-- The HMAC key a subscription's deliveries are signed with is not stored:
-- it is derived from the keyset's pinned key and the subscription's id, so
-- a copied database cannot forge a notification.
CREATE TABLE fhir_subscriptions (
	id            TEXT PRIMARY KEY,
	client_id     TEXT NOT NULL REFERENCES fhir_clients (id),
	criteria      TEXT NOT NULL,
	doctor_id     INTEGER REFERENCES doctors (id),     -- NULL: any doctor
	department_id INTEGER REFERENCES departments (id), -- NULL: any department
	reason        TEXT NOT NULL,
	endpoint      TEXT NOT NULL,
	base          TEXT NOT NULL, -- the facade's URL as the client reached it, for the notifications' references
	status        TEXT NOT NULL CHECK (status IN ('active', 'error', 'off')),
	error         TEXT NOT NULL DEFAULT '',
	created_ms    INTEGER NOT NULL,
	changed_ms    INTEGER NOT NULL,
	CHECK (length(id) > 0 AND length(criteria) > 0 AND length(endpoint) > 0)
);
CREATE INDEX fhir_subscriptions_active ON fhir_subscriptions (status) WHERE status = 'active';
CREATE INDEX fhir_subscriptions_client ON fhir_subscriptions (client_id);
CREATE TABLE fhir_deliveries (
	id              INTEGER PRIMARY KEY,
	subscription_id TEXT NOT NULL REFERENCES fhir_subscriptions (id),
	event_seq       INTEGER NOT NULL, -- the change's audit record
	focus           TEXT NOT NULL,    -- e.g. Appointment/12, Appointment/w3
	action          TEXT NOT NULL,
	created_ms      INTEGER NOT NULL,
	status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_ms INTEGER NOT NULL,
	finished_ms     INTEGER,
	error           TEXT NOT NULL DEFAULT '',
	UNIQUE (subscription_id, event_seq)
);
CREATE INDEX fhir_deliveries_due ON fhir_deliveries (next_attempt_ms, id) WHERE status = 'pending';
