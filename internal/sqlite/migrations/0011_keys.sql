-- Keys (issue 12 item 9). An extra slot's reason is free text that may
-- name a patient or a condition: it is sealed here (associated data
-- fairslot/extra_slot_reasons/<slot_id>/reason) instead of riding in the
-- audit record's detail, and re-sealed like every other sealed column when
-- the sealing key rotates. Rows are kept; only the sealed value may change.
CREATE TABLE extra_slot_reasons (
	slot_id       INTEGER PRIMARY KEY REFERENCES slots (id),
	reason_sealed BLOB NOT NULL
);
CREATE TRIGGER extra_slot_reasons_kept BEFORE DELETE ON extra_slot_reasons
BEGIN SELECT RAISE(ABORT, 'extra slot reasons are kept'); END;
CREATE TRIGGER extra_slot_reasons_fixed BEFORE UPDATE OF slot_id ON extra_slot_reasons
BEGIN SELECT RAISE(ABORT, 'extra slot reasons change only by re-sealing'); END;
