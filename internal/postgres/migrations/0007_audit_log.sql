-- The tamper-evident audit log (issue 12, item 7), the PostgreSQL twin of
-- SQLite's 0005: a Merkle tree (Go's sumdb/tlog) over the audit records in
-- commit order. seq is an identity and leaves gaps after rollbacks, and
-- concurrent transactions commit out of seq order, so leaf numbers are not
-- seq: every record keeps the id of its transaction, and the job leader
-- numbers, in (xid, seq) order, only records whose transaction is below the
-- xmin horizon — finished, so no record can later appear before them. The
-- online role only inserts here; nothing is ever updated or deleted.
SET search_path = fairslot;

ALTER TABLE audit_events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX audit_events_xid ON audit_events (xid, seq);
CREATE TABLE audit_leaves (
	leaf bigint PRIMARY KEY CHECK (leaf >= 0),
	-- No foreign key: its check would lock (and so write) every audit row
	-- the leader numbers. A leaf whose record is gone is what verify finds.
	seq  bigint NOT NULL UNIQUE
);
-- Stored hashes in runs, one row per batch: the 32-byte hashes from idx on.
CREATE TABLE audit_hashes (
	idx    bigint PRIMARY KEY CHECK (idx >= 0),
	hashes bytea NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0)
);
CREATE TABLE audit_checkpoints (
	size       bigint PRIMARY KEY CHECK (size >= 0),
	note       text NOT NULL,
	created_ms bigint NOT NULL
);
CREATE TRIGGER audit_leaves_append_only BEFORE UPDATE OR DELETE ON audit_leaves
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_hashes_append_only BEFORE UPDATE OR DELETE ON audit_hashes
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
