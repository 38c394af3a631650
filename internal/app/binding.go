package app

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// Binding proves identity (issue 13 item 1, DESIGN §3). Before, anyone who
// knew a stranger's name and ID number could bind that patient to their own
// account; two such bindings locked the real owner out, and a wrong name
// answered "the name does not match the identity on record" — telling a
// guesser the ID number exists. Now:
//   - an identity not yet known is created with the binding account's
//     phone as its phone on record, and bound at once;
//   - an identity already known — bound now, bound once and unbound, or
//     registered at the desk — is bound only with proof: a one-time code
//     sent through the outbox to its phone on record (ConfirmBinding), or
//     the desk's in-person check of the ID card (DeskBind, audited and
//     counted as a look-up by the access limits). Its holders and its phone
//     on record are told once it is bound;
//   - asking to bind a known identity, with the right name or a wrong one,
//     answers ErrProofSent and nothing else: whether a code went out is not
//     said, nor where. Every failed proof answers the same bindingFailed
//     message, whatever failed — the name, the number, an identity that
//     needs no proof, the code, a limit — with the tries left of the
//     account and device, which do not depend on the identity;
//   - proof requests and failures are limited per account, per device
//     (device cookie and address prefix) and per address prefix
//     (BindingLimits, gate.Memory as the login codes' limits), and codes
//     per identity across nodes (bindingCodesPerPatientHour, counted in the
//     database), so a stranger can neither guess for long nor flood the
//     holder's phone;
//   - Unbind removes a binding and nothing else: bookings, no-shows and
//     cancellations belong to the identity, and the binding window limits
//     count bindings made (binding_events), not bindings held, so bind,
//     unbind, bind again neither resets a limit nor passes one identity
//     round more accounts than the per-patient window allows.
const (
	bindingCodeTTL             = 10 * time.Minute
	bindingCodeAttempts        = 5 // wrong guesses void a code
	bindingCodesPerPatientHour = 5 // codes to one identity's phone in an hour, from anyone
)

// ErrProofSent answers every request to bind an identity that is already
// known, and every request whose name does not match the identity on
// record: the words never say which, nor whether a code was sent.
var ErrProofSent = &fairslot.Error{Kind: fairslot.Conflict,
	Message: "if the details are right, a code was sent to the phone on record of this identity; enter it to add the patient, or bring the ID card to the registration desk"}

// BindingFailed is the one answer to every failed proof: a Forbidden
// fairslot.Error whose words depend only on the tries left.
type BindingFailed struct {
	Left int // proof attempts the account and device have left
	err  *fairslot.Error
}

func (b *BindingFailed) Error() string { return b.err.Error() }
func (b *BindingFailed) Unwrap() error { return b.err }

func bindingFailed(left int) error {
	return &BindingFailed{Left: left, err: &fairslot.Error{Kind: fairslot.Forbidden,
		Message: fmt.Sprintf("the code or the details are not right; %d tries left", left)}}
}

// BindingLimits bound binding proofs: requests for a code and failed
// confirmations, charged alike. The zero value uses the defaults.
type BindingLimits struct {
	// PerAccount (default 5 an hour), PerRequester per device cookie and
	// address prefix (default 5 an hour) and PerAddr per address prefix
	// (default 30 an hour: carrier NAT puts many patients behind one).
	PerAccount, PerRequester, PerAddr gate.Limit
	MaxKeys                           int // each limit's memory (default 100,000)

	once                       sync.Once
	accounts, requesters, addr *gate.Memory
}

func (l *BindingLimits) init() {
	l.once.Do(func() {
		def := func(v *gate.Limit, d gate.Limit) {
			if v.Rate <= 0 {
				*v = d
			}
		}
		def(&l.PerAccount, gate.Limit{Rate: 5, Per: time.Hour, Burst: 5})
		def(&l.PerRequester, gate.Limit{Rate: 5, Per: time.Hour, Burst: 5})
		def(&l.PerAddr, gate.Limit{Rate: 30, Per: time.Hour, Burst: 30})
		if l.MaxKeys <= 0 {
			l.MaxKeys = 100_000
		}
		l.accounts, l.requesters, l.addr = gate.NewMemory(l.PerAccount, l.MaxKeys), gate.NewMemory(l.PerRequester, l.MaxKeys), gate.NewMemory(l.PerAddr, l.MaxKeys)
	})
}

// left is how many proof attempts the account and device have left now.
func (l *BindingLimits) left(account int64, req []byte, addr string, now time.Time) int {
	l.init()
	n := min(l.accounts.Remaining(fmt.Sprint(account), now), l.requesters.Remaining(string(req), now))
	if addr != "" {
		n = min(n, l.addr.Remaining(addr, now))
	}
	return n
}

// charge spends one proof attempt.
func (l *BindingLimits) charge(account int64, req []byte, addr string, now time.Time) {
	l.init()
	l.accounts.Allow(fmt.Sprint(account), now)
	l.requesters.Allow(string(req), now)
	if addr != "" {
		l.addr.Allow(addr, now)
	}
}

// findIdentity returns the patient with this identity, NotFound if none.
func (s *Service) findIdentity(ctx context.Context, tx storage.Tx, id identity) (storage.PatientRecord, error) {
	return byIndex(s.Vault, "id:"+string(id.typ), id.idNumber, func(i []byte) (storage.PatientRecord, error) {
		return tx.PatientByIdentity(ctx, id.typ, i)
	})
}

// nameMatches compares the name on record with the one given, in constant
// time.
func (s *Service) nameMatches(rec storage.PatientRecord, name string) (bool, error) {
	on, err := s.Vault.Open(patientField(rec.Ref, "name"), rec.NameSealed)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(on), []byte(name)) == 1, nil
}

// accountPhone is an account's login phone, in clear.
func (s *Service) accountPhone(ctx context.Context, tx storage.Tx, id int64) (string, error) {
	rec, err := tx.Account(ctx, id)
	if err != nil {
		return "", err
	}
	return s.Vault.Open(vault.Field{Table: "accounts", Row: rec.Ref, Column: "phone"}, rec.PhoneSealed)
}

// phoneOnRecord is where an identity's proof is sent: its phone on record,
// or — for a patient bound before phones on record were kept — its first
// holder's login phone; "" when it has neither (only the desk can bind it).
func (s *Service) phoneOnRecord(ctx context.Context, tx storage.Tx, rec storage.PatientRecord) (string, error) {
	if len(rec.PhoneSealed) > 0 {
		p, err := s.Vault.Open(patientField(rec.Ref, "phone"), rec.PhoneSealed)
		if err != nil || p != "" {
			return p, err
		}
	}
	holders, err := tx.Holders(ctx, rec.ID)
	if err != nil || len(holders) == 0 {
		return "", err
	}
	return s.accountPhone(ctx, tx, holders[0])
}

// bindingCode hashes a binding code with its account and patient, keyed.
func (s *Service) bindingCode(account, patient int64, code string) []byte {
	return s.Vault.Hash("binding-code", fmt.Sprintf("%d:%d:%s", account, patient, code))
}

// bindLimits are the database's binding limits under the policy.
func (s *Service) bindLimits() storage.BindLimits {
	return storage.BindLimits{PatientsPerAccount: s.Policy.MaxPatientsPerAccount, AccountsPerPatient: s.Policy.MaxAccountsPerPatient,
		RecentPerAccount: s.Policy.MaxBindingsPerWindow, RecentPerPatient: s.Policy.PatientBindingsPerWindow()}
}

// bind binds account to rec under every limit, records it and queues the
// messages to its other holders and its phone on record (returned in out,
// for sent once tx commits). via says how the identity was proven.
func (s *Service) bind(ctx context.Context, tx storage.Tx, a Actor, account int64, rec storage.PatientRecord, via string, detail map[string]string, out *[]message) error {
	now := s.now()
	since := now.Add(-time.Duration(s.Policy.BindingWindow))
	counts, err := tx.BindingCounts(ctx, account, rec.ID, since)
	if err != nil {
		return err
	}
	if err := s.Policy.CheckBinding(counts); err != nil {
		return err
	}
	holders, err := tx.Holders(ctx, rec.ID)
	if err != nil {
		return err
	}
	if err := tx.Bind(ctx, fairslot.Binding{AccountID: account, PatientID: rec.ID, CreatedAt: now}, s.bindLimits(), since); err != nil {
		return err
	}
	if err := s.riskEvent(ctx, tx, a, storage.RiskBind, account, 0, &rec, nil); err != nil {
		return err
	}
	d := map[string]string{"account": fmt.Sprint(account), "via": via}
	for k, v := range detail {
		d[k] = v
	}
	if err := s.record(ctx, tx, a, "binding.create", fmt.Sprintf("patient:%d", rec.ID), d); err != nil {
		return err
	}
	if via == "new" {
		return nil // the phone on record is the binder's own
	}
	return s.tell(ctx, tx, rec, account, holders, notify.KeyIdentityBound, out)
}

// message is a message queued in a transaction, to report once it commits.
type message struct {
	phone string
	body  notify.Body
}

// tell queues key to an identity's phone on record and to its holders'
// login phones, once each, but not to the account that acted.
func (s *Service) tell(ctx context.Context, tx storage.Tx, rec storage.PatientRecord, actor int64, holders []int64, key string, out *[]message) error {
	name, err := s.Vault.Open(patientField(rec.Ref, "name"), rec.NameSealed)
	if err != nil {
		return err
	}
	self, err := s.accountPhone(ctx, tx, actor)
	if err != nil {
		return err
	}
	phones := []string{}
	if len(rec.PhoneSealed) > 0 {
		p, err := s.Vault.Open(patientField(rec.Ref, "phone"), rec.PhoneSealed)
		if err != nil {
			return err
		}
		phones = append(phones, p)
	}
	for _, h := range holders {
		if h == actor {
			continue
		}
		p, err := s.accountPhone(ctx, tx, h)
		if err != nil {
			return err
		}
		phones = append(phones, p)
	}
	seen := map[string]bool{self: true, "": true}
	for _, p := range phones {
		if seen[p] {
			continue
		}
		seen[p] = true
		b := notify.Body{Key: key, Params: map[string]string{"name": vault.MaskName(name)}}
		if err := s.enqueue(ctx, tx, p, b); err != nil {
			return err
		}
		*out = append(*out, message{p, b})
	}
	return nil
}

// BindPatient binds a real-name patient to the caller's account. An
// identity not yet known is created with the account's phone as its phone
// on record and bound at once (the phone typed in the input is not used).
// Any other answers ErrProofSent: a code went to the identity's phone on
// record if the name is right and the limits allow; ConfirmBinding takes it.
func (s *Service) BindPatient(ctx context.Context, a Actor, in PatientInput) (fairslot.Patient, error) {
	if err := s.requireAccount(a); err != nil {
		return fairslot.Patient{}, err
	}
	id, err := in.normalize(s.phoneCountry())
	if err != nil {
		return fairslot.Patient{}, err
	}
	now := s.now()
	req := s.requester(a)
	spent := s.Binding.left(a.ID, req, a.Addr, now) <= 0
	code := fmt.Sprintf("%06d", mustRandInt(1000000))
	var rec storage.PatientRecord
	var out []message
	var proof bool
	refuse, err := s.update(ctx, func(tx storage.Tx) (error, error) {
		out, proof = nil, false
		// No identity is given before the privacy notice is accepted (rights.go).
		if err := s.requireConsent(ctx, tx, a); err != nil {
			return err, nil
		}
		// The account's own limits first, the same for every identity.
		counts, err := tx.BindingCounts(ctx, a.ID, 0, now.Add(-time.Duration(s.Policy.BindingWindow)))
		if err != nil {
			return nil, err
		}
		counts.AccountsOfPatient, counts.RecentOfPatient = 0, 0
		if err := s.Policy.CheckBinding(counts); err != nil {
			return err, nil
		}
		rec, err = s.findIdentity(ctx, tx, id)
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			if id.phone, err = s.accountPhone(ctx, tx, a.ID); err != nil {
				return nil, err
			}
			if rec, _, err = s.findOrCreatePatient(ctx, tx, a, id); err != nil {
				return nil, err
			}
			return nil, s.bind(ctx, tx, a, a.ID, rec, "new", nil, &out)
		}
		if err != nil {
			return nil, err
		}
		match, err := s.nameMatches(rec, id.name)
		if err != nil {
			return nil, err
		}
		if match {
			if ok, err := tx.Bound(ctx, a.ID, rec.ID); err != nil || ok {
				return firstErr(err, fairslot.E(fairslot.Conflict, "error.binding.already", "this patient is already bound to your account")), nil
			}
		}
		proof = true
		// The same work whatever the outcome, where practical: a code is
		// hashed and a message sealed every time; only the writes differ.
		hash := s.bindingCode(a.ID, rec.ID, code)
		phone, err := s.phoneOnRecord(ctx, tx, rec)
		if err != nil {
			return nil, err
		}
		n, err := tx.BindingCodesSince(ctx, rec.ID, now.Add(-time.Hour))
		if err != nil {
			return nil, err
		}
		name, err := s.Vault.Open(patientField(rec.Ref, "name"), rec.NameSealed)
		if err != nil {
			return nil, err
		}
		body := notify.Body{Key: notify.KeyBindingCode, Params: map[string]string{"code": code, "name": vault.MaskName(name)}}
		send := match && !spent && phone != "" && n < bindingCodesPerPatientHour
		detail := map[string]string{"sent": fmt.Sprint(send)}
		if send {
			c := storage.BindingCode{AccountID: a.ID, PatientID: rec.ID, CodeHash: hash, ExpiresAt: now.Add(bindingCodeTTL), CreatedAt: now}
			if err := tx.CreateBindingCode(ctx, &c); err != nil {
				return nil, err
			}
			if err := s.enqueue(ctx, tx, phone, body); err != nil {
				return nil, err
			}
			out = append(out, message{phone, body})
		} else if _, err := s.Vault.Seal(vault.Field{Table: "outbox", Row: newRef(), Column: "body"}, body.Encode()); err != nil {
			return nil, err
		}
		return ErrProofSent, s.record(ctx, tx, a, "binding.proof_requested", fmt.Sprintf("patient:%d", rec.ID), detail)
	})
	if err != nil {
		return fairslot.Patient{}, err
	}
	if proof {
		s.Binding.charge(a.ID, req, a.Addr, now)
	}
	for _, m := range out {
		s.sent(ctx, m.phone, m.body)
	}
	if refuse != nil {
		return fairslot.Patient{}, refuse
	}
	return s.maskedPatient(rec)
}

// BindingProof is the second step of binding a known identity: the same
// identity, and the code sent to its phone on record.
type BindingProof struct {
	Name     string          `json:"name"`
	IDType   fairslot.IDType `json:"id_type"`
	IDNumber string          `json:"id_number"`
	Code     string          `json:"code"`
}

// ConfirmBinding binds a known identity to the caller's account with the
// code sent to its phone on record. Every failure — a wrong code, a name or
// number that does not match, an identity with no code pending, a limit —
// is the one bindingFailed answer.
func (s *Service) ConfirmBinding(ctx context.Context, a Actor, in BindingProof) (fairslot.Patient, error) {
	if err := s.requireAccount(a); err != nil {
		return fairslot.Patient{}, err
	}
	now := s.now()
	req := s.requester(a)
	fail := func() (fairslot.Patient, error) {
		s.Binding.charge(a.ID, req, a.Addr, now)
		return fairslot.Patient{}, bindingFailed(s.Binding.left(a.ID, req, a.Addr, now))
	}
	id, err := PatientInput{Name: in.Name, IDType: in.IDType, IDNumber: in.IDNumber}.normalize(s.phoneCountry())
	if err != nil || s.Binding.left(a.ID, req, a.Addr, now) <= 0 {
		return fail()
	}
	code := strings.TrimSpace(in.Code)
	var rec storage.PatientRecord
	var out []message
	var failed bool
	refuse, err := s.update(ctx, func(tx storage.Tx) (error, error) {
		out, failed = nil, false
		no := func(why string) (error, error) {
			failed = true
			return nil, s.record(ctx, tx, a, "binding.proof_failed", fmt.Sprintf("account:%d", a.ID), map[string]string{"why": why})
		}
		rec, err = s.findIdentity(ctx, tx, id)
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			s.bindingCode(a.ID, 0, code) // the same hashing as a known identity's
			return no("unknown identity")
		}
		if err != nil {
			return nil, err
		}
		match, err := s.nameMatches(rec, id.name)
		if err != nil {
			return nil, err
		}
		hash := s.bindingCode(a.ID, rec.ID, code)
		c, err := tx.LatestBindingCode(ctx, a.ID, rec.ID, now)
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			return no("no code")
		}
		if err != nil {
			return nil, err
		}
		if !match {
			return no("name")
		}
		if c.Attempts >= bindingCodeAttempts {
			return no("code used up")
		}
		if subtle.ConstantTimeCompare(c.CodeHash, hash) != 1 {
			if err := tx.UpdateBindingCode(ctx, c.ID, c.Attempts+1, false); err != nil {
				return nil, err
			}
			return no("wrong code")
		}
		if err := tx.UpdateBindingCode(ctx, c.ID, c.Attempts+1, true); err != nil {
			return nil, err
		}
		if ok, err := tx.Bound(ctx, a.ID, rec.ID); err != nil || ok {
			return firstErr(err, fairslot.E(fairslot.Conflict, "error.binding.already", "this patient is already bound to your account")), nil
		}
		// Proven: the identity's limits may now be told as they are.
		if err := s.bind(ctx, tx, a, a.ID, rec, "code", nil, &out); err != nil {
			if k := fairslot.ErrorKind(err); k == fairslot.Limited || k == fairslot.Conflict {
				return err, nil
			}
			return nil, err
		}
		return nil, nil
	})
	if err != nil {
		return fairslot.Patient{}, err
	}
	if failed {
		return fail()
	}
	for _, m := range out {
		s.sent(ctx, m.phone, m.body)
	}
	if refuse != nil {
		return fairslot.Patient{}, refuse
	}
	return s.maskedPatient(rec)
}

// DeskBindInput is the desk's in-person check of an ID card: the patient
// shows the card and the phone of the account to bind it to.
type DeskBindInput struct {
	Phone   string        `json:"phone"` // the account's login phone
	Patient PatientInput  `json:"patient"`
	Reason  access.Reason `json:"reason"`
	Note    string        `json:"note,omitempty"`
}

// DeskBind binds an identity to an account after the desk has checked the
// ID card in person: a registrar's or admin's action, with a reason,
// recorded in the audit log and as a look-up counted by the access limits
// (over them the staff account is locked). An identity with no phone on
// record gets the account's phone. Its holders are told.
func (s *Service) DeskBind(ctx context.Context, a Actor, in DeskBindInput) (fairslot.Patient, error) {
	if err := s.requireStaff(a, fairslot.ActBindCheck); err != nil {
		return fairslot.Patient{}, err
	}
	reason, note, err := access.Check(in.Reason, in.Note)
	if err != nil {
		return fairslot.Patient{}, err
	}
	phone, err := s.normalizePhone(in.Phone)
	if err != nil {
		return fairslot.Patient{}, err
	}
	id, err := in.Patient.normalize(s.phoneCountry())
	if err != nil {
		return fairslot.Patient{}, err
	}
	id.phone = phone
	var rec storage.PatientRecord
	var out []message
	var alert string
	err = s.committed(ctx, func(tx storage.Tx) (error, error) {
		out = nil
		acct, err := byIndex(s.Vault, "phone", phone, func(idx []byte) (storage.AccountRecord, error) {
			return tx.AccountByPhone(ctx, idx)
		})
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			return fairslot.E(fairslot.NotFound, "error.binding.no_account", "no account logs in with this phone; the patient logs in once first"), nil
		}
		if err != nil {
			return nil, err
		}
		if rec, _, err = s.findOrCreatePatient(ctx, tx, a, id); err != nil {
			if fairslot.ErrorKind(err) == fairslot.Invalid {
				return err, nil
			}
			return nil, err
		}
		subject := fmt.Sprintf("patient:%d", rec.ID)
		refuse, why, err := s.limited(ctx, tx, a, subject)
		if refuse != nil || err != nil {
			alert = why
			return refuse, err
		}
		if _, err := s.appendAccess(ctx, tx, storage.AccessRecord{At: s.now(), StaffID: a.ID, Role: string(a.Role), PatientID: rec.ID,
			Kind: string(access.Lookup), Field: "id", Reason: string(reason), Place: place(a, fairslot.Session{}), Subject: subject}, note); err != nil {
			return nil, err
		}
		if len(rec.PhoneSealed) == 0 {
			if rec.PhoneSealed, err = s.Vault.Seal(patientField(rec.Ref, "phone"), phone); err != nil {
				return nil, err
			}
			rec.PhoneIndex = s.Vault.Index("phone", phone)
			if err := tx.SetPatientPhone(ctx, rec.ID, rec.PhoneIndex, rec.PhoneSealed); err != nil {
				return nil, err
			}
		}
		if ok, err := tx.Bound(ctx, acct.ID, rec.ID); err != nil || ok {
			return firstErr(err, fairslot.E(fairslot.Conflict, "error.binding.already_there", "this patient is already bound to that account")), nil
		}
		if err := s.bind(ctx, tx, a, acct.ID, rec, "desk", map[string]string{"reason": string(reason)}, &out); err != nil {
			if k := fairslot.ErrorKind(err); k == fairslot.Limited || k == fairslot.Conflict {
				return err, nil
			}
			return nil, err
		}
		return nil, nil
	})
	s.alert(a, alert)
	if err != nil {
		return fairslot.Patient{}, err
	}
	for _, m := range out {
		s.sent(ctx, m.phone, m.body)
	}
	return s.maskedPatient(rec)
}

// Unbind removes a patient from the caller's account. It removes the
// binding only: the patient's bookings, no-shows and cancellations stay
// with the identity, the binding still counts in the window limits, and
// the phone on record stays, so binding it again needs proof. The
// identity's phone on record is told, unless it is the caller's own.
func (s *Service) Unbind(ctx context.Context, a Actor, patientID int64) error {
	if err := s.requireAccount(a); err != nil {
		return err
	}
	var out []message
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		out = nil
		if err := tx.Unbind(ctx, a.ID, patientID, s.now()); err != nil {
			if fairslot.ErrorKind(err) == fairslot.NotFound {
				return fairslot.E(fairslot.NotFound, "error.binding.not_bound", "this patient is not bound to your account")
			}
			return err
		}
		rec, err := tx.Patient(ctx, patientID)
		if err != nil {
			return err
		}
		if err := s.riskEvent(ctx, tx, a, storage.RiskUnbind, a.ID, 0, &rec, nil); err != nil {
			return err
		}
		if err := s.record(ctx, tx, a, "binding.remove", fmt.Sprintf("patient:%d", patientID), map[string]string{"account": fmt.Sprint(a.ID)}); err != nil {
			return err
		}
		return s.tell(ctx, tx, rec, a.ID, nil, notify.KeyIdentityUnbound, &out)
	})
	if err != nil {
		return err
	}
	s.nudgeRisk()
	for _, m := range out {
		s.sent(ctx, m.phone, m.body)
	}
	return nil
}
