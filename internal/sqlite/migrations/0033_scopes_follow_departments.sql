-- A login scoped to a campus and a department follows the department when
-- an admin moves it to another campus: before, the login kept the old
-- campus, reached neither its department (now elsewhere) nor anything else
-- (its department is not at that campus), and was stranded. The use case
-- audits the move of each such login; these triggers make the database
-- keep every scope a pair that exists, whoever writes.
UPDATE staff SET campus_id = (SELECT d.campus_id FROM departments d WHERE d.id = staff.department_id)
	WHERE department_id IS NOT NULL AND campus_id IS NOT NULL
	AND NOT EXISTS (SELECT 1 FROM departments d WHERE d.id = staff.department_id AND d.campus_id = staff.campus_id);
CREATE TRIGGER departments_move_scopes AFTER UPDATE OF campus_id ON departments
WHEN NEW.campus_id IS NOT OLD.campus_id
BEGIN
	UPDATE staff SET campus_id = NEW.campus_id WHERE department_id = NEW.id AND campus_id = OLD.campus_id;
END;
CREATE TRIGGER staff_scope_insert BEFORE INSERT ON staff
WHEN NEW.department_id IS NOT NULL AND NEW.campus_id IS NOT NULL
	AND NOT EXISTS (SELECT 1 FROM departments d WHERE d.id = NEW.department_id AND d.campus_id = NEW.campus_id)
BEGIN
	SELECT RAISE(ABORT, 'a staff scope names a department that is not at its campus');
END;
CREATE TRIGGER staff_scope_update BEFORE UPDATE OF campus_id, department_id ON staff
WHEN NEW.department_id IS NOT NULL AND NEW.campus_id IS NOT NULL
	AND NOT EXISTS (SELECT 1 FROM departments d WHERE d.id = NEW.department_id AND d.campus_id = NEW.campus_id)
BEGIN
	SELECT RAISE(ABORT, 'a staff scope names a department that is not at its campus');
END;
