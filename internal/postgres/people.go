package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/booking"
	"github.com/fairslot/fairslot/internal/storage"
)

func (t *tx) scanAccount(row pgx.Row) (storage.AccountRecord, error) {
	var a storage.AccountRecord
	var created int64
	err := one(row, "account", &a.ID, &a.Ref, &a.PhoneIndex, &a.PhoneSealed, &created)
	a.CreatedAt = t.at(created)
	return a, err
}

func (t *tx) AccountByPhone(ctx context.Context, phoneIndex []byte) (storage.AccountRecord, error) {
	return t.scanAccount(t.tx.QueryRow(ctx, `SELECT id, ref, phone_index, phone_sealed, created_ms FROM accounts WHERE phone_index = $1`, phoneIndex))
}

func (t *tx) Account(ctx context.Context, id int64) (storage.AccountRecord, error) {
	return t.scanAccount(t.tx.QueryRow(ctx, `SELECT id, ref, phone_index, phone_sealed, created_ms FROM accounts WHERE id = $1`, id))
}

func (t *tx) CreateAccount(ctx context.Context, a *storage.AccountRecord) (err error) {
	a.ID, err = t.id(ctx, `INSERT INTO accounts (ref, phone_index, phone_sealed, created_ms) VALUES ($1, $2, $3, $4) RETURNING id`,
		a.Ref, a.PhoneIndex, a.PhoneSealed, ms(a.CreatedAt))
	if isUnique(err, "accounts_phone_index_key") {
		return fairslot.Errorf(fairslot.Conflict, "an account with this phone exists")
	}
	return err
}

const patientColumns = `@id, @ref, @id_type, @id_index, @id_sealed, @name_sealed, @phone_index, @phone_sealed, @birth_sealed, @created_ms`

func (t *tx) scanPatient(r pgx.Row) (storage.PatientRecord, error) {
	var p storage.PatientRecord
	var typ string
	var created int64
	err := r.Scan(&p.ID, &p.Ref, &typ, &p.IDIndex, &p.IDSealed, &p.NameSealed, &p.PhoneIndex, &p.PhoneSealed, &p.BirthSealed, &created)
	p.IDType, p.CreatedAt = fairslot.IDType(typ), t.at(created)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, fairslot.Errorf(fairslot.NotFound, "patient not found")
	}
	return p, err
}

func (t *tx) PatientByIdentity(ctx context.Context, typ fairslot.IDType, idIndex []byte) (storage.PatientRecord, error) {
	return t.scanPatient(t.tx.QueryRow(ctx, `SELECT `+columns("", patientColumns)+` FROM patients WHERE id_type = $1 AND id_index = $2`, string(typ), idIndex))
}

func (t *tx) Patient(ctx context.Context, id int64) (storage.PatientRecord, error) {
	return t.scanPatient(t.tx.QueryRow(ctx, `SELECT `+columns("", patientColumns)+` FROM patients WHERE id = $1`, id))
}

func (t *tx) CreatePatient(ctx context.Context, p *storage.PatientRecord) (err error) {
	p.ID, err = t.id(ctx, `INSERT INTO patients (ref, id_type, id_index, id_sealed, name_sealed, phone_index, phone_sealed, birth_sealed, created_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		p.Ref, string(p.IDType), p.IDIndex, p.IDSealed, p.NameSealed, p.PhoneIndex, p.PhoneSealed, p.BirthSealed, ms(p.CreatedAt))
	if isUnique(err, "patients_id_type_id_index_key") {
		return fairslot.Errorf(fairslot.Conflict, "a patient with this ID number exists")
	}
	return err
}

func (t *tx) PatientsOf(ctx context.Context, accountID int64) ([]storage.PatientRecord, error) {
	return all(ctx, t, func(r pgx.Rows) (storage.PatientRecord, error) { return t.scanPatient(r) },
		`SELECT `+columns("p.", patientColumns)+` FROM patients p JOIN bindings b ON b.patient_id = p.id
		WHERE b.account_id = $1 ORDER BY b.created_ms, p.id`, accountID)
}

func (t *tx) Bound(ctx context.Context, accountID, patientID int64) (bool, error) {
	var ok bool
	err := t.tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bindings WHERE account_id = $1 AND patient_id = $2)`, accountID, patientID).Scan(&ok)
	return ok, err
}

func (t *tx) Binding(ctx context.Context, accountID, patientID int64) (fairslot.Binding, error) {
	b := fairslot.Binding{AccountID: accountID, PatientID: patientID}
	var created int64
	err := one(t.tx.QueryRow(ctx, `SELECT created_ms FROM bindings WHERE account_id = $1 AND patient_id = $2`, accountID, patientID),
		"binding", &created)
	b.CreatedAt = t.at(created)
	return b, err
}

func (t *tx) BindingCounts(ctx context.Context, accountID, patientID int64, since time.Time) (booking.Binding, error) {
	var b booking.Binding
	err := t.tx.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM bindings WHERE account_id = $1),
		(SELECT count(*) FROM bindings WHERE patient_id = $2),
		(SELECT count(*) FROM binding_events WHERE account_id = $1 AND kind = 'bind' AND at_ms >= $3),
		(SELECT count(*) FROM binding_events WHERE patient_id = $2 AND kind = 'bind' AND at_ms >= $3)`,
		accountID, patientID, ms(since)).Scan(&b.PatientsOfAccount, &b.AccountsOfPatient, &b.RecentByAccount, &b.RecentOfPatient)
	return b, err
}

// Bind locks the account, then the patient (always in that order), and
// inserts the binding only while every limit holds, recording it among the
// binding events the window limits count.
func (t *tx) Bind(ctx context.Context, b fairslot.Binding, l storage.BindLimits, since time.Time) error {
	if err := t.lock(ctx, lockAccount, b.AccountID); err != nil {
		return err
	}
	if err := t.lock(ctx, lockPatient, b.PatientID); err != nil {
		return err
	}
	perPatient := l.RecentPerPatient
	if perPatient <= 0 {
		perPatient = 1 << 30
	}
	n, err := t.exec(ctx, `INSERT INTO bindings (account_id, patient_id, created_ms)
		SELECT $1, $2, $3 WHERE
			(SELECT count(*) FROM bindings WHERE account_id = $1) < $4 AND
			(SELECT count(*) FROM bindings WHERE patient_id = $2) < $5 AND
			(SELECT count(*) FROM binding_events WHERE account_id = $1 AND kind = 'bind' AND at_ms >= $6) < $7 AND
			(SELECT count(*) FROM binding_events WHERE patient_id = $2 AND kind = 'bind' AND at_ms >= $6) < $8`,
		b.AccountID, b.PatientID, ms(b.CreatedAt), l.PatientsPerAccount, l.AccountsPerPatient, ms(since), l.RecentPerAccount, perPatient)
	if isUnique(err, "bindings_pkey") {
		return fairslot.Errorf(fairslot.Conflict, "this patient is already bound to the account")
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return fairslot.Errorf(fairslot.Limited, "binding limit reached")
	}
	_, err = t.exec(ctx, `INSERT INTO binding_events (account_id, patient_id, kind, at_ms) VALUES ($1, $2, 'bind', $3)`, b.AccountID, b.PatientID, ms(b.CreatedAt))
	return err
}

// Unbind locks as Bind does, so a binding and an unbinding of one patient
// are counted in order.
func (t *tx) Unbind(ctx context.Context, accountID, patientID int64, at time.Time) error {
	if err := t.lock(ctx, lockAccount, accountID); err != nil {
		return err
	}
	if err := t.lock(ctx, lockPatient, patientID); err != nil {
		return err
	}
	var id *int64
	if err := t.tx.QueryRow(ctx, `SELECT unbind($1, $2, $3)`, accountID, patientID, ms(at)).Scan(&id); err != nil {
		return err
	}
	if id == nil {
		return fairslot.Errorf(fairslot.NotFound, "this patient is not bound to the account")
	}
	return nil
}

func (t *tx) Holders(ctx context.Context, patientID int64) ([]int64, error) {
	return all(ctx, t, func(r pgx.Rows) (id int64, err error) { return id, r.Scan(&id) },
		`SELECT account_id FROM bindings WHERE patient_id = $1 ORDER BY created_ms, account_id`, patientID)
}

// SetPatientPhone sets the phone on record of a patient that has none; it
// never changes one.
func (t *tx) SetPatientPhone(ctx context.Context, patientID int64, phoneIndex, phoneSealed []byte) error {
	var id *int64
	if err := t.tx.QueryRow(ctx, `SELECT set_patient_phone($1, $2, $3)`, patientID, phoneIndex, phoneSealed).Scan(&id); err != nil {
		return err
	}
	if id == nil {
		return fairslot.Errorf(fairslot.Conflict, "the patient has a phone on record")
	}
	return nil
}

func (t *tx) CreateBindingCode(ctx context.Context, c *storage.BindingCode) (err error) {
	c.ID, err = t.id(ctx, `INSERT INTO binding_codes (account_id, patient_id, code_hash, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		c.AccountID, c.PatientID, c.CodeHash, ms(c.ExpiresAt), ms(c.CreatedAt))
	return err
}

func (t *tx) BindingCodesSince(ctx context.Context, patientID int64, since time.Time) (n int, err error) {
	return n, t.tx.QueryRow(ctx, `SELECT count(*) FROM binding_codes WHERE patient_id = $1 AND created_ms >= $2`, patientID, ms(since)).Scan(&n)
}

func (t *tx) LatestBindingCode(ctx context.Context, accountID, patientID int64, now time.Time) (storage.BindingCode, error) {
	c := storage.BindingCode{AccountID: accountID, PatientID: patientID}
	var exp, created int64
	err := one(t.tx.QueryRow(ctx, `SELECT id, code_hash, attempts, expires_ms, created_ms FROM binding_codes
		WHERE account_id = $1 AND patient_id = $2 AND NOT used AND expires_ms > $3 ORDER BY created_ms DESC, id DESC LIMIT 1`, accountID, patientID, ms(now)),
		"binding code", &c.ID, &c.CodeHash, &c.Attempts, &exp, &created)
	c.ExpiresAt, c.CreatedAt = t.at(exp), t.at(created)
	return c, err
}

func (t *tx) UpdateBindingCode(ctx context.Context, id int64, attempts int, used bool) error {
	_, err := t.exec(ctx, `SELECT update_binding_code($1, $2, $3)`, id, attempts, used)
	return err
}

func (t *tx) CreateLoginCode(ctx context.Context, c *storage.LoginCode) (err error) {
	c.ID, err = t.id(ctx, `INSERT INTO login_codes (phone_index, code_hash, expires_ms, created_ms, requester) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
		c.PhoneIndex, c.CodeHash, ms(c.ExpiresAt), ms(c.CreatedAt), c.Requester)
	return err
}

func (t *tx) LoginCodesSince(ctx context.Context, phoneIndex []byte, since time.Time) (n int, err error) {
	return n, t.tx.QueryRow(ctx, `SELECT count(*) FROM login_codes WHERE phone_index = $1 AND created_ms >= $2`, phoneIndex, ms(since)).Scan(&n)
}

func (t *tx) LatestLoginCode(ctx context.Context, phoneIndex []byte, now time.Time) (storage.LoginCode, error) {
	var c storage.LoginCode
	var exp, created int64
	err := one(t.tx.QueryRow(ctx, `SELECT id, phone_index, code_hash, expires_ms, attempts, created_ms FROM login_codes
		WHERE phone_index = $1 AND NOT used AND expires_ms > $2 ORDER BY created_ms DESC, id DESC LIMIT 1`, phoneIndex, ms(now)),
		"login code", &c.ID, &c.PhoneIndex, &c.CodeHash, &exp, &c.Attempts, &created)
	c.ExpiresAt, c.CreatedAt = t.at(exp), t.at(created)
	return c, err
}

func (t *tx) LoginCodes(ctx context.Context, phoneIndex []byte, now time.Time) ([]storage.LoginCode, error) {
	return all(ctx, t, func(r pgx.Rows) (c storage.LoginCode, err error) {
		var exp, created int64
		err = r.Scan(&c.ID, &c.PhoneIndex, &c.CodeHash, &exp, &c.Attempts, &created, &c.Requester)
		c.ExpiresAt, c.CreatedAt = t.at(exp), t.at(created)
		return c, err
	}, `SELECT id, phone_index, code_hash, expires_ms, attempts, created_ms, requester FROM login_codes
		WHERE phone_index = $1 AND NOT used AND expires_ms > $2 ORDER BY created_ms DESC, id DESC LIMIT 100`, phoneIndex, ms(now))
}

func (t *tx) UpdateLoginCode(ctx context.Context, id int64, attempts int, used bool) error {
	_, err := t.exec(ctx, `SELECT update_login_code($1, $2, $3)`, id, attempts, used)
	return err
}

func (t *tx) CreateToken(ctx context.Context, k storage.Token) error {
	_, err := t.exec(ctx, `INSERT INTO auth_tokens (hash, kind, subject_id, expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5)`,
		k.Hash, string(k.Kind), k.SubjectID, ms(k.ExpiresAt), ms(k.CreatedAt))
	return err
}

func (t *tx) Token(ctx context.Context, hash []byte, now time.Time) (storage.Token, error) {
	var k storage.Token
	var kind string
	var exp, created int64
	err := one(t.tx.QueryRow(ctx, `SELECT hash, kind, subject_id, expires_ms, created_ms FROM auth_tokens WHERE hash = $1 AND expires_ms > $2`, hash, ms(now)),
		"token", &k.Hash, &kind, &k.SubjectID, &exp, &created)
	k.Kind, k.ExpiresAt, k.CreatedAt = storage.TokenKind(kind), t.at(exp), t.at(created)
	return k, err
}

func (t *tx) RevokeToken(ctx context.Context, r storage.RevokedToken) error {
	if _, err := t.exec(ctx, `SELECT delete_token($1)`, r.Hash); err != nil {
		return err
	}
	// The database's clock, not the node's: every node reads revocations by
	// it, so a node whose clock is behind cannot revoke out of their sight.
	_, err := t.exec(ctx, `INSERT INTO revoked_tokens (hash, expires_ms, revoked_ms)
		VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) ON CONFLICT DO NOTHING`, r.Hash, ms(r.ExpiresAt))
	return err
}

func (t *tx) RevokedTokens(ctx context.Context, since, now time.Time) ([]storage.RevokedToken, error) {
	return all(ctx, t, func(r pgx.Rows) (k storage.RevokedToken, err error) {
		var exp, at int64
		err = r.Scan(&k.Hash, &exp, &at)
		k.ExpiresAt, k.RevokedAt = t.at(exp), t.at(at)
		return k, err
	}, `SELECT hash, expires_ms, revoked_ms FROM revoked_tokens WHERE revoked_ms >= $1 AND expires_ms > $2 ORDER BY revoked_ms`, ms(since), ms(now))
}

func (t *tx) CreateStaff(ctx context.Context, s *fairslot.Staff, passwordHash string) (err error) {
	s.ID, err = t.id(ctx, `INSERT INTO staff (username, name, role, password_hash, doctor_id, campus_id, department_id)
		VALUES ($1, $2, $3, $4, nullif($5, 0), nullif($6, 0), nullif($7, 0)) RETURNING id`,
		s.Username, s.Name, string(s.Role), passwordHash, s.DoctorID, s.CampusID, s.DepartmentID)
	if isUnique(err, "staff_username_key") {
		return fairslot.Errorf(fairslot.Conflict, "staff username %q exists", s.Username)
	}
	return err
}

func (t *tx) StaffByUsername(ctx context.Context, username string) (fairslot.Staff, string, error) {
	var s fairslot.Staff
	var hash string
	err := one(t.tx.QueryRow(ctx, `SELECT `+staffColumns+`, password_hash FROM staff WHERE username = $1`, username),
		"staff member", append(staffFields(&s), &hash)...)
	return s, hash, err
}

func (t *tx) Staff(ctx context.Context, id int64) (fairslot.Staff, error) {
	var s fairslot.Staff
	return s, one(t.tx.QueryRow(ctx, `SELECT `+staffColumns+` FROM staff WHERE id = $1`, id), "staff member", staffFields(&s)...)
}

// staffColumns are read into staffFields.
const staffColumns = `id, username, name, role, coalesce(doctor_id, 0), coalesce(campus_id, 0), coalesce(department_id, 0)`

func staffFields(s *fairslot.Staff) []any {
	return []any{&s.ID, &s.Username, &s.Name, &s.Role, &s.DoctorID, &s.CampusID, &s.DepartmentID}
}
