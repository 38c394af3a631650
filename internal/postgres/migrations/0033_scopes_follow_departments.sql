-- A login scoped to a campus and a department follows the department when
-- an admin moves it to another campus (update_department): before, the
-- login kept the old campus, reached neither its department (now
-- elsewhere) nor anything else, and was stranded. The use case audits the
-- move of each such login; the foreign key makes the database keep every
-- scope a pair that exists, whoever writes, and carries it along on a move.
UPDATE staff s SET campus_id = d.campus_id FROM departments d
	WHERE d.id = s.department_id AND s.campus_id IS NOT NULL AND s.campus_id <> d.campus_id;
ALTER TABLE departments ADD CONSTRAINT departments_id_campus UNIQUE (id, campus_id);
ALTER TABLE staff ADD CONSTRAINT staff_scope_department_at_campus
	FOREIGN KEY (department_id, campus_id) REFERENCES departments (id, campus_id) ON UPDATE CASCADE;
