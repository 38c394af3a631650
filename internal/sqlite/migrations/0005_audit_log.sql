-- The tamper-evident audit log (issue 12, item 7): a Merkle tree (Go's
-- sumdb/tlog) over the audit records in commit order. The single writer
-- commits records in seq order, so the job leader gives leaf numbers in seq
-- order, after the commit and off the write path. Stored hashes use tlog's
-- numbering; checkpoints are signed notes whose key is kept with the keyset,
-- never here. All three tables are append-only.
CREATE TABLE audit_leaves (
	leaf INTEGER PRIMARY KEY CHECK (leaf >= 0),
	seq  INTEGER NOT NULL UNIQUE REFERENCES audit_events (seq)
);
-- Stored hashes in runs, one row per batch the leader appends: the run of
-- 32-byte hashes from index idx on. One row, not one per hash, so that the
-- leader's writes cost the single writer next to nothing.
CREATE TABLE audit_hashes (
	idx    INTEGER PRIMARY KEY CHECK (idx >= 0),
	hashes BLOB NOT NULL CHECK (length(hashes) > 0 AND length(hashes) % 32 = 0)
);
CREATE TABLE audit_checkpoints (
	size       INTEGER PRIMARY KEY CHECK (size >= 0),
	note       TEXT NOT NULL,
	created_ms INTEGER NOT NULL
);
CREATE TRIGGER audit_leaves_no_update BEFORE UPDATE ON audit_leaves
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_leaves_no_delete BEFORE DELETE ON audit_leaves
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_hashes_no_update BEFORE UPDATE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_hashes_no_delete BEFORE DELETE ON audit_hashes
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
