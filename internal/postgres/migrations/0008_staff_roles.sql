-- Two roles for the floor (security, kiosk) and the links that scope a
-- login's work: a doctor to their doctor record, a nurse or desk to a
-- campus or department.
ALTER TABLE staff DROP CONSTRAINT staff_role_check;
ALTER TABLE staff ADD CONSTRAINT staff_role_check
	CHECK (role IN ('registrar', 'nurse', 'doctor', 'admin', 'security', 'kiosk'));
ALTER TABLE staff ADD COLUMN doctor_id bigint REFERENCES doctors (id),
	ADD COLUMN campus_id bigint REFERENCES campuses (id),
	ADD COLUMN department_id bigint REFERENCES departments (id);
