package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/gate"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

const (
	loginCodeTTL      = 5 * time.Minute
	accountTokenTTL   = DefaultPatientTokenTTL // Service.PatientTokenTTL; refresh.go
	staffTokenTTL     = 8 * time.Hour          // StaffAuthPolicy.SessionMax
	maxPasswordLength = 256
)

// ResendIn is how long requester a must wait before it may ask for
// another code to phone (0: now; an invalid phone: 0, and the request
// itself will say why): what the login page counts down.
func (s *Service) ResendIn(a Actor, phone string) time.Duration {
	p, err := s.normalizePhone(phone)
	if err != nil {
		return 0
	}
	return roundUp(s.OTP.resendIn(s.loginPhone(p), s.requester(a), s.now()))
}

// RequestLoginCode sends a one-time login code to a phone: written sealed
// to the outbox in the same transaction, and sent by the outbox's
// dispatcher (internal/notify), never on this request's path. Requests are
// limited per phone and requester (device and address prefix) and per
// address prefix (otp.go), and per phone from anyone with a high cap and
// growing gaps, so that a stranger asking for a victim's codes from
// elsewhere runs out long before the victim does; every code stays valid
// until it expires, so a stranger's new code does not void the owner's.
func (s *Service) RequestLoginCode(ctx context.Context, a Actor, phone string) error {
	p, err := s.normalizePhone(phone)
	if err != nil {
		return err
	}
	idx := s.loginPhone(p)
	req := s.requester(a)
	code := fmt.Sprintf("%06d", mustRandInt(1000000))
	now := s.now()
	limited := s.OTP.requestLimited(idx, req, a.Addr, now)
	var out []notify.Body
	body := notify.Body{Key: notify.KeyLoginCode, Params: map[string]string{"code": code}}
	refuse, err := s.update(ctx, func(tx storage.Tx) (error, error) {
		out = nil
		if body.Lang, err = s.phoneLanguage(ctx, tx, a, p); err != nil {
			return nil, err
		}
		if limited == nil {
			if limited, err = s.phoneCodesLimited(ctx, tx, idx, now); err != nil {
				return nil, err
			}
		}
		if limited != nil {
			return limited, s.warnOwner(ctx, tx, a, p, idx, now, &out)
		}
		c := storage.LoginCode{PhoneIndex: idx, CodeHash: s.codeHash(p, code), ExpiresAt: now.Add(loginCodeTTL), CreatedAt: now, Requester: req}
		if err := tx.CreateLoginCode(ctx, &c); err != nil {
			return nil, err
		}
		if err := s.enqueue(ctx, tx, p, body); err != nil {
			return nil, err
		}
		out = append(out, body)
		return nil, s.record(ctx, tx, a, "login.code_sent", fmt.Sprintf("login_code:%d", c.ID), map[string]string{"phone": vault.MaskPhone(p)})
	})
	if err != nil {
		return err
	}
	if refuse == nil {
		s.OTP.requested(idx, req, a.Addr, now)
	}
	for _, b := range out {
		s.sent(ctx, p, b)
	}
	return refuse
}

// enqueue writes a message to a phone into the outbox, sealed; once the
// transaction commits, the outbox's dispatcher is woken (sent, below). A
// request never waits for a send.
func (s *Service) enqueue(ctx context.Context, tx storage.Tx, phone string, b notify.Body) error {
	return s.enqueueOnce(ctx, tx, phone, b, "")
}

// enqueueOnce is enqueue with the outbox's dedupe key ("": none).
func (s *Service) enqueueOnce(ctx context.Context, tx storage.Tx, phone string, b notify.Body, dedupeKey string) error {
	m := storage.OutboxMessage{Ref: newRef(), Channel: "sms", CreatedAt: s.now(), DedupeKey: dedupeKey}
	var err error
	if m.RecipientSealed, err = s.Vault.Seal(vault.Field{Table: "outbox", Row: m.Ref, Column: "recipient"}, phone); err != nil {
		return err
	}
	body := b.Encode()
	if m.BodySealed, err = s.Vault.Seal(vault.Field{Table: "outbox", Row: m.Ref, Column: "body"}, body); err != nil {
		return err
	}
	return tx.AppendOutbox(ctx, m)
}

// sent follows a committed transaction that enqueued b to phone: it wakes
// the dispatcher and tells the in-process Notifier, if any.
func (s *Service) sent(ctx context.Context, phone string, b notify.Body) {
	if b.Key == notify.KeyLoginWarning {
		s.OTP.init()
		s.OTP.warned.Allow(string(s.loginPhone(phone)), s.now())
	}
	if s.Outbox != nil {
		s.Outbox.Wake()
	}
	if s.Notifier != nil {
		if text, err := b.Text(); err == nil {
			s.Notifier.Notify(ctx, phone, text)
		}
	}
}

// codeHash keys the login code, so a stolen database cannot be searched for
// codes offline.
func (s *Service) codeHash(phone, code string) []byte {
	return s.Vault.Hash("login-code", phone+":"+code)
}

// loginPhone keys a phone's login codes: a keyed hash under the pinned key,
// not the blind index, since codes live minutes and are never rebuilt when
// the index key rotates.
func (s *Service) loginPhone(phone string) []byte {
	return s.Vault.Hash("login-phone", phone)
}

// Login exchanges a phone's one-time code for a bearer token, creating the
// account on first login. Any valid code of the phone is accepted. A wrong
// guess uses up a try of the newest code the same requester asked for; a
// guess by someone who asked for no valid code (a stranger) is charged to
// the phone's and their own stranger budgets (otp.go) — checked before the
// code is compared — and warns the owner, so a stranger can neither void
// the owner's code nor guess for long.
func (s *Service) Login(ctx context.Context, a Actor, phone, code string) (token string, acct fairslot.Account, err error) {
	p, err := s.normalizePhone(phone)
	if err != nil {
		return "", acct, err
	}
	idx := s.loginPhone(p)
	req := s.requester(a)
	now := s.now()
	var out []notify.Body
	var strangerWrong bool
	refuse, err := s.update(ctx, func(tx storage.Tx) (error, error) {
		out, strangerWrong = nil, false
		codes, err := tx.LoginCodes(ctx, idx, now)
		if err != nil {
			return nil, err
		}
		if len(codes) == 0 {
			return fairslot.E(fairslot.Unauthorized, "error.login.no_code", "no valid code for this phone; ask for a new one").On("code"), nil
		}
		own, ownTried := -1, false
		for i, c := range codes {
			if bytes.Equal(c.Requester, req) {
				ownTried = true
				if own < 0 && c.Attempts < loginCodeAttempts {
					own = i
				}
			}
		}
		if own < 0 {
			if ownTried {
				return fairslot.E(fairslot.Limited, "error.login.used_up", "too many wrong codes; ask for a new one").On("code"), nil
			}
			if refuse := s.OTP.guessLimited(idx, req, a.Addr, now); refuse != nil {
				return refuse, s.warnOwner(ctx, tx, a, p, idx, now, &out)
			}
		}
		hash := s.codeHash(p, strings.TrimSpace(code))
		match := -1
		for i, c := range codes {
			if c.Attempts < loginCodeAttempts && subtle.ConstantTimeCompare(c.CodeHash, hash) == 1 {
				match = i
				break
			}
		}
		if match < 0 {
			// The page shows the tries left and when a new code may be
			// asked for (the requester's gap, otp.go).
			resend := roundUp(s.OTP.resendIn(idx, req, now))
			wrong := fairslot.E(fairslot.Unauthorized, "error.login.wrong", "wrong code").On("code")
			subject := "login_phone"
			if own >= 0 {
				c := codes[own]
				if err := tx.UpdateLoginCode(ctx, c.ID, c.Attempts+1, false); err != nil {
					return nil, err
				}
				subject = fmt.Sprintf("login_code:%d", c.ID)
				if left := loginCodeAttempts - c.Attempts - 1; left > 0 {
					wrong = fairslot.E(fairslot.Unauthorized, "error.login.wrong_left", "wrong code; %d tries left; a new code can be sent in %s", left, resend).On("code")
				} else {
					wrong = fairslot.E(fairslot.Unauthorized, "error.login.wrong_last", "wrong code; ask for a new one in %s", resend).On("code")
				}
			} else {
				strangerWrong = true
				if err := s.warnOwner(ctx, tx, a, p, idx, now, &out); err != nil {
					return nil, err
				}
			}
			return wrong, s.record(ctx, tx, a, "login.failed", subject, nil)
		}
		c := codes[match]
		if err := tx.UpdateLoginCode(ctx, c.ID, c.Attempts+1, true); err != nil {
			return nil, err
		}
		rec, err := s.account(ctx, tx, a, p)
		if err != nil {
			return nil, err
		}
		var k storage.Token
		token, k = s.newToken(storage.AccountToken, rec.ID, now)
		if err := tx.CreateToken(ctx, k); err != nil {
			return nil, err
		}
		acct = fairslot.Account{ID: rec.ID, Phone: vault.MaskPhone(p), CreatedAt: rec.CreatedAt}
		return nil, s.record(ctx, tx, Actor{Kind: storage.AccountToken, ID: rec.ID, RequestID: a.RequestID}, "account.login", fmt.Sprintf("account:%d", rec.ID), nil)
	})
	if err == nil {
		if strangerWrong {
			s.OTP.guessed(idx, req, a.Addr, now)
		}
		for _, b := range out {
			s.sent(ctx, p, b)
		}
	}
	if err = firstErr(err, refuse); err != nil {
		return "", fairslot.Account{}, err
	}
	return token, acct, nil
}

// phoneLanguage is the language of messages to a phone that may have no
// account yet (a login code, the owner's warning): the language its
// account last used the pages in, else the request's, else Chinese.
func (s *Service) phoneLanguage(ctx context.Context, tx storage.Tx, a Actor, phone string) (string, error) {
	rec, err := byIndex(s.Vault, "phone", phone, func(idx []byte) (storage.AccountRecord, error) {
		return tx.AccountByPhone(ctx, idx)
	})
	switch {
	case err == nil:
		lang, err := tx.AccountLanguage(ctx, rec.ID)
		if err != nil || lang != "" {
			return lang, err
		}
	case fairslot.ErrorKind(err) != fairslot.NotFound:
		return "", err
	}
	if slices.Contains(notify.Languages, a.Lang) {
		return a.Lang, nil
	}
	return "zh-CN", nil
}

// account returns the account of a normalized phone, creating it if new.
func (s *Service) account(ctx context.Context, tx storage.Tx, a Actor, phone string) (storage.AccountRecord, error) {
	rec, err := byIndex(s.Vault, "phone", phone, func(idx []byte) (storage.AccountRecord, error) {
		return tx.AccountByPhone(ctx, idx)
	})
	if fairslot.ErrorKind(err) != fairslot.NotFound {
		return rec, err
	}
	rec = storage.AccountRecord{Ref: newRef(), PhoneIndex: s.Vault.Index("phone", phone), CreatedAt: s.now()}
	if rec.PhoneSealed, err = s.Vault.Seal(vault.Field{Table: "accounts", Row: rec.Ref, Column: "phone"}, phone); err != nil {
		return rec, err
	}
	if err := tx.CreateAccount(ctx, &rec); err != nil {
		return rec, err
	}
	return rec, s.record(ctx, tx, a, "account.create", fmt.Sprintf("account:%d", rec.ID), nil)
}

// OpenAccount returns the actor of the account with this phone, creating the
// account if new. It is for set-up (the demo), not for logging in.
func (s *Service) OpenAccount(ctx context.Context, a Actor, phone string) (Actor, error) {
	p, err := s.normalizePhone(phone)
	if err != nil {
		return Actor{}, err
	}
	var rec storage.AccountRecord
	err = s.Store.Update(ctx, func(tx storage.Tx) (err error) {
		rec, err = s.account(ctx, tx, a, p)
		return err
	})
	return Actor{Kind: storage.AccountToken, ID: rec.ID, RequestID: a.RequestID}, err
}

// Authenticate resolves a bearer token to its actor.
func (s *Service) Authenticate(ctx context.Context, token, requestID string) (Actor, error) {
	bad := fairslot.Errorf(fairslot.Unauthorized, "invalid or expired token; log in again")
	if _, _, ok := s.TokenClaims(token); !ok {
		return Actor{}, bad // forged, expired or revoked: refused without a database read
	}
	sum := sha256.Sum256([]byte(token))
	var a Actor
	var touch bool
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		k, err := tx.Token(ctx, sum[:], s.now())
		if err != nil {
			return err
		}
		a = Actor{Kind: k.Kind, ID: k.SubjectID, RequestID: requestID}
		if k.Kind == storage.StaffToken {
			st, err := tx.Staff(ctx, k.SubjectID)
			if err != nil {
				return err
			}
			if err := s.staffActor(ctx, tx, &a, st); err != nil { // scope.go: role, scope, the access lock
				return err
			}
			touch, err = s.staffSession(ctx, tx, sum[:], &a) // staffauth.go: expiry, idle, disabled
			return err
		}
		return nil
	})
	if fairslot.ErrorKind(err) == fairslot.NotFound {
		return Actor{}, bad
	}
	if err == nil && touch {
		s.touchSession(ctx, sum[:])
	}
	return a, err
}

// Logout revokes a bearer token: in the database, and at once in this
// node's revocation set (other nodes read it within RevocationPoll).
func (s *Service) Logout(ctx context.Context, a Actor, token string) error {
	claims, ok := s.tokenClaims(token)
	if !ok {
		return fairslot.Errorf(fairslot.Unauthorized, "invalid token")
	}
	sum := sha256.Sum256([]byte(token))
	r := storage.RevokedToken{Hash: sum[:], ExpiresAt: claims.expires}
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.RevokeToken(ctx, r); err != nil {
			return err
		}
		if claims.kind == storage.StaffToken {
			if err := tx.EndStaffSessions(ctx, claims.subject, sum[:], s.now()); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, a, "logout", a.ref(), nil)
	})
	if err == nil {
		s.revoked.add(false, r)
	}
	return err
}

// CreateStaff adds a staff member with an argon2id password hash, for
// set-up: the demo (its published password, only in demo mode) and tests.
// Staff accounts are managed with AddStaff (staffaccounts.go), which checks
// the actor's rights and the password policy.
func (s *Service) CreateStaff(ctx context.Context, a Actor, st *fairslot.Staff, password string) error {
	if !st.Role.Valid() {
		return fairslot.Errorf(fairslot.Invalid, "unknown role %q", st.Role)
	}
	if password == DemoPassword && !s.DemoMode {
		return fairslot.Errorf(fairslot.Invalid, "the demo's published password is for demo mode only")
	}
	if len(password) < 10 || len(password) > maxPasswordLength {
		return fairslot.Errorf(fairslot.Invalid, "a staff password must be 10 to %d characters", maxPasswordLength)
	}
	hash := HashPassword(password)
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		if err := tx.CreateStaff(ctx, st, hash); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "staff.create", fmt.Sprintf("staff:%d", st.ID), map[string]string{"role": string(st.Role)})
	})
}

// A bearer token is signed (gate.Signer) and names its kind, subject and
// expiry, so the front door can put a request in its lane — staff, or a
// patient's account — without a database read, and refuse an expired one;
// revoked tokens are in the revocation set every node keeps in memory. The
// database keeps its SHA-256 and decides whether it is still valid.
const (
	tokenRandom  = 16
	tokenPayload = 1 + 8 + 8 + tokenRandom // kind, subject, expiry (Unix seconds), random
)

var tokenKinds = map[byte]storage.TokenKind{'a': storage.AccountToken, 's': storage.StaffToken}

var tokenTTL = map[storage.TokenKind]time.Duration{storage.AccountToken: accountTokenTTL, storage.StaffToken: staffTokenTTL}

func (s *Service) tokenSigner() gate.Signer {
	s.keysOnce.Do(func() { s.tokenKey = s.Vault.Key("bearer-token") })
	return s.tokenKey
}

// newToken returns a bearer token for a subject, made at now and valid
// for its kind's TTL, and the record that is stored: its hash, with the
// same expiry the token carries.
func (s *Service) newToken(kind storage.TokenKind, subject int64, now time.Time) (token string, rec storage.Token) {
	expires := now.Add(s.lifetime(kind)).Truncate(time.Second)
	b := make([]byte, tokenPayload)
	b[0] = kind[0]
	binary.BigEndian.PutUint64(b[1:9], uint64(subject))
	binary.BigEndian.PutUint64(b[9:17], uint64(expires.Unix()))
	rand.Read(b[17:])
	token = s.tokenSigner().Sign(b)
	sum := sha256.Sum256([]byte(token))
	return token, storage.Token{Hash: sum[:], Kind: kind, SubjectID: subject, ExpiresAt: expires, CreatedAt: now}
}

type claims struct {
	kind    storage.TokenKind
	subject int64
	expires time.Time
}

// tokenClaims reads a token this server signed, whether or not it is still
// valid.
func (s *Service) tokenClaims(token string) (claims, bool) {
	b, ok := s.tokenSigner().Verify(token)
	if !ok || len(b) != tokenPayload {
		return claims{}, false
	}
	kind, ok := tokenKinds[b[0]]
	return claims{kind: kind, subject: int64(binary.BigEndian.Uint64(b[1:9])),
		expires: time.Unix(int64(binary.BigEndian.Uint64(b[9:17])), 0)}, ok
}

// TokenClaims reads a bearer token's kind and subject without the database;
// ok only for a token this server signed that has not expired and is not in
// the revocation set. The front door trusts it for lanes and limits; the
// database still decides each request's actor.
func (s *Service) TokenClaims(token string) (kind storage.TokenKind, subject int64, ok bool) {
	c, ok := s.tokenClaims(token)
	if !ok || !s.now().Before(c.expires) || s.revoked.has(token) {
		return "", 0, false
	}
	return c.kind, c.subject, true
}

func mustRandInt(n int64) int64 {
	v, err := rand.Int(rand.Reader, big.NewInt(n))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return v.Int64()
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// Argon2id parameters: OWASP's minimum recommendation (19 MiB, t=2, p=1).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

var dummyHash = HashPassword("not a password of anyone's")

// HashPassword returns a PHC-format argon2id hash with a random salt.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// CheckPassword reports whether password matches a hash from HashPassword,
// reading the parameters from the hash so they can be raised later.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
