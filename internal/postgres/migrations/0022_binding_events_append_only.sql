-- binding_events is what the binding limits count (bindings made, not
-- held): append-only, like consents and binding_removals (0018), whoever
-- writes, so deleting history cannot buy bindings back.
CREATE TRIGGER binding_events_append_only BEFORE UPDATE OR DELETE ON binding_events FOR EACH ROW EXECUTE FUNCTION append_only();
CREATE TRIGGER binding_events_no_truncate BEFORE TRUNCATE ON binding_events FOR EACH STATEMENT EXECUTE FUNCTION append_only();
