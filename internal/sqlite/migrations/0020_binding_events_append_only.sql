-- binding_events is what the binding limits count (bindings made, not
-- held): append-only, like consents and binding_removals, so deleting
-- history cannot buy bindings back.
CREATE TRIGGER binding_events_no_update BEFORE UPDATE ON binding_events
BEGIN
	SELECT RAISE(ABORT, 'binding events are append-only');
END;
CREATE TRIGGER binding_events_no_delete BEFORE DELETE ON binding_events
BEGIN
	SELECT RAISE(ABORT, 'binding events are append-only');
END;
