package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) scanAccount(row *sql.Row) (storage.AccountRecord, error) {
	var a storage.AccountRecord
	var created int64
	err := one(row, "account", &a.ID, &a.Ref, &a.PhoneIndex, &a.PhoneSealed, &created)
	a.CreatedAt = t.at(created)
	return a, err
}

func (t *tx) AccountByPhone(ctx context.Context, phoneIndex []byte) (storage.AccountRecord, error) {
	return t.scanAccount(t.queryRow(ctx, `SELECT id, ref, phone_index, phone_sealed, created_ms FROM accounts WHERE phone_index = ?`, phoneIndex))
}

func (t *tx) Account(ctx context.Context, id int64) (storage.AccountRecord, error) {
	return t.scanAccount(t.queryRow(ctx, `SELECT id, ref, phone_index, phone_sealed, created_ms FROM accounts WHERE id = ?`, id))
}

func (t *tx) CreateAccount(ctx context.Context, a *storage.AccountRecord) (err error) {
	a.ID, err = t.insert(ctx, `INSERT INTO accounts (ref, phone_index, phone_sealed, created_ms) VALUES (?, ?, ?, ?)`,
		a.Ref, a.PhoneIndex, a.PhoneSealed, ms(a.CreatedAt))
	if isUnique(err, "accounts.phone_index") {
		return fairslot.Errorf(fairslot.Conflict, "an account with this phone exists")
	}
	return err
}

func patientColumns(a string) string {
	return strings.NewReplacer("@", a).Replace(`@id, @ref, @id_type, @id_index, @id_sealed, @name_sealed, @phone_index,
		@phone_sealed, @birth_sealed, @created_ms`)
}

func (t *tx) scanPatient(r interface{ Scan(...any) error }) (storage.PatientRecord, error) {
	var p storage.PatientRecord
	var created int64
	err := r.Scan(&p.ID, &p.Ref, &p.IDType, &p.IDIndex, &p.IDSealed, &p.NameSealed, &p.PhoneIndex, &p.PhoneSealed, &p.BirthSealed, &created)
	p.CreatedAt = t.at(created)
	if err == sql.ErrNoRows {
		return p, fairslot.Errorf(fairslot.NotFound, "patient not found")
	}
	return p, err
}

func (t *tx) PatientByIdentity(ctx context.Context, typ fairslot.IDType, idIndex []byte) (storage.PatientRecord, error) {
	return t.scanPatient(t.queryRow(ctx, `SELECT `+patientColumns("")+` FROM patients WHERE id_type = ? AND id_index = ?`, typ, idIndex))
}

func (t *tx) Patient(ctx context.Context, id int64) (storage.PatientRecord, error) {
	return t.scanPatient(t.queryRow(ctx, `SELECT `+patientColumns("")+` FROM patients WHERE id = ?`, id))
}

func (t *tx) CreatePatient(ctx context.Context, p *storage.PatientRecord) (err error) {
	p.ID, err = t.insert(ctx, `INSERT INTO patients (ref, id_type, id_index, id_sealed, name_sealed, phone_index, phone_sealed, birth_sealed, created_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, p.Ref, p.IDType, p.IDIndex, p.IDSealed, p.NameSealed, p.PhoneIndex, p.PhoneSealed, p.BirthSealed, ms(p.CreatedAt))
	if isUnique(err, "patients.id_") {
		return fairslot.Errorf(fairslot.Conflict, "a patient with this ID number exists")
	}
	return err
}

func (t *tx) PatientsOf(ctx context.Context, accountID int64) ([]storage.PatientRecord, error) {
	return all(ctx, t, func(r *sql.Rows) (storage.PatientRecord, error) { return t.scanPatient(r) },
		`SELECT `+patientColumns("p.")+` FROM patients p JOIN bindings b ON b.patient_id = p.id
		WHERE b.account_id = ? ORDER BY b.created_ms, p.id`, accountID)
}

func (t *tx) Bound(ctx context.Context, accountID, patientID int64) (bool, error) {
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM bindings WHERE account_id = ? AND patient_id = ?`, accountID, patientID).Scan(&n)
	return n > 0, err
}

func (t *tx) Binding(ctx context.Context, accountID, patientID int64) (fairslot.Binding, error) {
	b := fairslot.Binding{AccountID: accountID, PatientID: patientID}
	var created int64
	err := one(t.queryRow(ctx, `SELECT created_ms FROM bindings WHERE account_id = ? AND patient_id = ?`, accountID, patientID),
		"binding", &created)
	b.CreatedAt = t.at(created)
	return b, err
}

func (t *tx) BindingCounts(ctx context.Context, accountID, patientID int64, since time.Time) (booking.Binding, error) {
	var b booking.Binding
	err := t.queryRow(ctx, `SELECT
		(SELECT count(*) FROM bindings WHERE account_id = ?),
		(SELECT count(*) FROM bindings WHERE patient_id = ?),
		(SELECT count(*) FROM binding_events WHERE account_id = ? AND kind = 'bind' AND at_ms >= ?),
		(SELECT count(*) FROM binding_events WHERE patient_id = ? AND kind = 'bind' AND at_ms >= ?)`,
		accountID, patientID, accountID, ms(since), patientID, ms(since)).Scan(&b.PatientsOfAccount, &b.AccountsOfPatient, &b.RecentByAccount, &b.RecentOfPatient)
	return b, err
}

// Bind inserts the binding only while every limit holds, in one statement,
// and records it among the binding events the window limits count.
func (t *tx) Bind(ctx context.Context, b fairslot.Binding, l storage.BindLimits, since time.Time) error {
	perPatient := l.RecentPerPatient
	if perPatient <= 0 {
		perPatient = 1 << 30
	}
	res, err := t.exec(ctx, `INSERT INTO bindings (account_id, patient_id, created_ms)
		SELECT ?, ?, ? WHERE
			(SELECT count(*) FROM bindings WHERE account_id = ?) < ? AND
			(SELECT count(*) FROM bindings WHERE patient_id = ?) < ? AND
			(SELECT count(*) FROM binding_events WHERE account_id = ? AND kind = 'bind' AND at_ms >= ?) < ? AND
			(SELECT count(*) FROM binding_events WHERE patient_id = ? AND kind = 'bind' AND at_ms >= ?) < ?`,
		b.AccountID, b.PatientID, ms(b.CreatedAt),
		b.AccountID, l.PatientsPerAccount, b.PatientID, l.AccountsPerPatient, b.AccountID, ms(since), l.RecentPerAccount,
		b.PatientID, ms(since), perPatient)
	if isUnique(err, "bindings.") {
		return fairslot.Errorf(fairslot.Conflict, "this patient is already bound to the account")
	}
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fairslot.Errorf(fairslot.Limited, "binding limit reached")
	}
	_, err = t.exec(ctx, `INSERT INTO binding_events (account_id, patient_id, kind, at_ms) VALUES (?, ?, 'bind', ?)`, b.AccountID, b.PatientID, ms(b.CreatedAt))
	return err
}

func (t *tx) Unbind(ctx context.Context, accountID, patientID int64, at time.Time) error {
	res, err := t.exec(ctx, `DELETE FROM bindings WHERE account_id = ? AND patient_id = ?`, accountID, patientID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fairslot.Errorf(fairslot.NotFound, "this patient is not bound to the account")
	}
	_, err = t.exec(ctx, `INSERT INTO binding_events (account_id, patient_id, kind, at_ms) VALUES (?, ?, 'unbind', ?)`, accountID, patientID, ms(at))
	return err
}

func (t *tx) Holders(ctx context.Context, patientID int64) ([]int64, error) {
	return all(ctx, t, func(r *sql.Rows) (id int64, err error) { return id, r.Scan(&id) },
		`SELECT account_id FROM bindings WHERE patient_id = ? ORDER BY created_ms, account_id`, patientID)
}

// SetPatientPhone sets the phone on record of a patient that has none; it
// never changes one.
func (t *tx) SetPatientPhone(ctx context.Context, patientID int64, phoneIndex, phoneSealed []byte) error {
	res, err := t.exec(ctx, `UPDATE patients SET phone_index = ?, phone_sealed = ?
		WHERE id = ? AND (phone_sealed IS NULL OR length(phone_sealed) = 0)`, phoneIndex, phoneSealed, patientID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fairslot.Errorf(fairslot.Conflict, "the patient has a phone on record")
	}
	return nil
}

func (t *tx) CreateBindingCode(ctx context.Context, c *storage.BindingCode) (err error) {
	c.ID, err = t.insert(ctx, `INSERT INTO binding_codes (account_id, patient_id, code_hash, expires_ms, created_ms) VALUES (?, ?, ?, ?, ?)`,
		c.AccountID, c.PatientID, c.CodeHash, ms(c.ExpiresAt), ms(c.CreatedAt))
	return err
}

func (t *tx) BindingCodesSince(ctx context.Context, patientID int64, since time.Time) (n int, err error) {
	return n, t.queryRow(ctx, `SELECT count(*) FROM binding_codes WHERE patient_id = ? AND created_ms >= ?`, patientID, ms(since)).Scan(&n)
}

func (t *tx) LatestBindingCode(ctx context.Context, accountID, patientID int64, now time.Time) (storage.BindingCode, error) {
	c := storage.BindingCode{AccountID: accountID, PatientID: patientID}
	var exp, created int64
	err := one(t.queryRow(ctx, `SELECT id, code_hash, attempts, expires_ms, created_ms FROM binding_codes
		WHERE account_id = ? AND patient_id = ? AND used = 0 AND expires_ms > ? ORDER BY created_ms DESC, id DESC LIMIT 1`, accountID, patientID, ms(now)),
		"binding code", &c.ID, &c.CodeHash, &c.Attempts, &exp, &created)
	c.ExpiresAt, c.CreatedAt = t.at(exp), t.at(created)
	return c, err
}

func (t *tx) UpdateBindingCode(ctx context.Context, id int64, attempts int, used bool) error {
	_, err := t.exec(ctx, `UPDATE binding_codes SET attempts = ?, used = ? WHERE id = ?`, attempts, used, id)
	return err
}

func (t *tx) CreateLoginCode(ctx context.Context, c *storage.LoginCode) (err error) {
	c.ID, err = t.insert(ctx, `INSERT INTO login_codes (phone_index, code_hash, expires_ms, created_ms, requester) VALUES (?, ?, ?, ?, ?)`,
		c.PhoneIndex, c.CodeHash, ms(c.ExpiresAt), ms(c.CreatedAt), c.Requester)
	return err
}

func (t *tx) LoginCodesSince(ctx context.Context, phoneIndex []byte, since time.Time) (int, error) {
	var n int
	err := t.queryRow(ctx, `SELECT count(*) FROM login_codes WHERE phone_index = ? AND created_ms >= ?`, phoneIndex, ms(since)).Scan(&n)
	return n, err
}

func (t *tx) LatestLoginCode(ctx context.Context, phoneIndex []byte, now time.Time) (storage.LoginCode, error) {
	var c storage.LoginCode
	var exp, created int64
	err := one(t.queryRow(ctx, `SELECT id, phone_index, code_hash, expires_ms, attempts, created_ms FROM login_codes
		WHERE phone_index = ? AND used = 0 AND expires_ms > ? ORDER BY created_ms DESC, id DESC LIMIT 1`, phoneIndex, ms(now)),
		"login code", &c.ID, &c.PhoneIndex, &c.CodeHash, &exp, &c.Attempts, &created)
	c.ExpiresAt, c.CreatedAt = t.at(exp), t.at(created)
	return c, err
}

func (t *tx) LoginCodes(ctx context.Context, phoneIndex []byte, now time.Time) ([]storage.LoginCode, error) {
	return all(ctx, t, func(r *sql.Rows) (c storage.LoginCode, err error) {
		var exp, created int64
		err = r.Scan(&c.ID, &c.PhoneIndex, &c.CodeHash, &exp, &c.Attempts, &created, &c.Requester)
		c.ExpiresAt, c.CreatedAt = t.at(exp), t.at(created)
		return c, err
	}, `SELECT id, phone_index, code_hash, expires_ms, attempts, created_ms, requester FROM login_codes
		WHERE phone_index = ? AND used = 0 AND expires_ms > ? ORDER BY created_ms DESC, id DESC LIMIT 100`, phoneIndex, ms(now))
}

func (t *tx) UpdateLoginCode(ctx context.Context, id int64, attempts int, used bool) error {
	_, err := t.exec(ctx, `UPDATE login_codes SET attempts = ?, used = ? WHERE id = ?`, attempts, used, id)
	return err
}

func (t *tx) CreateToken(ctx context.Context, k storage.Token) error {
	_, err := t.exec(ctx, `INSERT INTO auth_tokens (hash, kind, subject_id, expires_ms, created_ms) VALUES (?, ?, ?, ?, ?)`,
		k.Hash, k.Kind, k.SubjectID, ms(k.ExpiresAt), ms(k.CreatedAt))
	return err
}

func (t *tx) Token(ctx context.Context, hash []byte, now time.Time) (storage.Token, error) {
	var k storage.Token
	var exp, created int64
	err := one(t.queryRow(ctx, `SELECT hash, kind, subject_id, expires_ms, created_ms FROM auth_tokens WHERE hash = ? AND expires_ms > ?`, hash, ms(now)),
		"token", &k.Hash, &k.Kind, &k.SubjectID, &exp, &created)
	k.ExpiresAt, k.CreatedAt = t.at(exp), t.at(created)
	return k, err
}

func (t *tx) RevokeToken(ctx context.Context, r storage.RevokedToken) error {
	if _, err := t.exec(ctx, `DELETE FROM auth_tokens WHERE hash = ?`, r.Hash); err != nil {
		return err
	}
	// The database's clock, not the caller's: every node reads revocations
	// by it (see RevokedTokens).
	_, err := t.exec(ctx, `INSERT INTO revoked_tokens (hash, expires_ms, revoked_ms)
		VALUES (?, ?, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)) ON CONFLICT DO NOTHING`, r.Hash, ms(r.ExpiresAt))
	return err
}

func (t *tx) RevokedTokens(ctx context.Context, since, now time.Time) ([]storage.RevokedToken, error) {
	return all(ctx, t, func(r *sql.Rows) (k storage.RevokedToken, err error) {
		var exp, at int64
		err = r.Scan(&k.Hash, &exp, &at)
		k.ExpiresAt, k.RevokedAt = t.at(exp), t.at(at)
		return k, err
	}, `SELECT hash, expires_ms, revoked_ms FROM revoked_tokens WHERE revoked_ms >= ? AND expires_ms > ? ORDER BY revoked_ms`, ms(since), ms(now))
}

func (t *tx) CreateStaff(ctx context.Context, s *fairslot.Staff, passwordHash string) (err error) {
	s.ID, err = t.insert(ctx, `INSERT INTO staff (username, name, role, password_hash, doctor_id, campus_id, department_id)
		VALUES (?, ?, ?, ?, nullif(?, 0), nullif(?, 0), nullif(?, 0))`,
		s.Username, s.Name, s.Role, passwordHash, s.DoctorID, s.CampusID, s.DepartmentID)
	if isUnique(err, "staff.username") {
		return fairslot.Errorf(fairslot.Conflict, "staff username %q exists", s.Username)
	}
	return err
}

func (t *tx) StaffByUsername(ctx context.Context, username string) (fairslot.Staff, string, error) {
	var s fairslot.Staff
	var hash string
	err := one(t.queryRow(ctx, `SELECT `+staffColumns+`, password_hash FROM staff WHERE username = ?`, username),
		"staff member", append(staffFields(&s), &hash)...)
	return s, hash, err
}

func (t *tx) Staff(ctx context.Context, id int64) (fairslot.Staff, error) {
	var s fairslot.Staff
	return s, one(t.queryRow(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = ?`, id), "staff member", staffFields(&s)...)
}

// staffColumns are read into staffFields.
const staffColumns = `id, username, name, role, coalesce(doctor_id, 0), coalesce(campus_id, 0), coalesce(department_id, 0)`

func staffFields(s *fairslot.Staff) []any {
	return []any{&s.ID, &s.Username, &s.Name, &s.Role, &s.DoctorID, &s.CampusID, &s.DepartmentID}
}
