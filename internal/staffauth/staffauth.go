// Package staffauth holds the rules of a staff member's sign-in: the
// password policy, the TOTP second factor (30-second steps, six digits, one
// step of drift either way, each step usable once) and single-use recovery
// codes. It is pure: it takes values and a clock and returns decisions, and
// never reads or writes storage, so that a stolen password's worth is
// decided here and tested in microseconds.
package staffauth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/trustelem/zxcvbn"

	"github.com/fairslot/fairslot"
)

// Password policy: NIST SP 800-63B's length, and zxcvbn's estimate of
// guesses so that "Password1234" and "hospital2026!" are refused while a
// long passphrase passes. zxcvbn knows common passwords, names, keyboard
// walks, dates and l33t; the username, name and hospital are added as
// words an attacker would try first.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 256
	MinStrength       = 3 // zxcvbn score 0..4; 3 is "safely unguessable" (about 10^8 guesses) online and slowed offline by argon2id
)

// ErrWeakPassword is the one message for every refused password: the rule,
// not which part of it failed, so the desk sees one clear instruction.
var ErrWeakPassword = fairslot.Errorf(fairslot.Invalid,
	"choose a password of at least %d characters that is not common or easy to guess (not your name, username or the hospital's; a few unrelated words work well)", MinPasswordLength)

// CheckPassword applies the policy to a new password; inputs are the words
// to count as known to an attacker (username, name, hospital).
func CheckPassword(password string, inputs ...string) error {
	n := len([]rune(password))
	if n < MinPasswordLength || len(password) > MaxPasswordLength {
		return ErrWeakPassword
	}
	words := []string{"fairslot", "demo", "hospital", "clinic", "staff", "admin"}
	for _, in := range inputs {
		for _, w := range strings.FieldsFunc(strings.ToLower(in), func(r rune) bool { return r == ' ' || r == '-' || r == '_' || r == '.' || r == '@' }) {
			if w != "" {
				words = append(words, w)
			}
		}
		if in != "" {
			words = append(words, strings.ToLower(in))
		}
	}
	if zxcvbn.PasswordStrength(password, words).Score < MinStrength {
		return ErrWeakPassword
	}
	return nil
}

// TOTP parameters (RFC 6238 defaults, what every authenticator app reads).
const (
	Period = 30 * time.Second
	Digits = 6
	Skew   = 1 // steps accepted either side of now
)

// NewSecret returns a random 160-bit TOTP secret, base32 without padding.
func NewSecret() string {
	b := make([]byte, 20)
	rand.Read(b)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
}

// URL is the otpauth:// URL an authenticator app reads from a QR code.
func URL(issuer, account, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", fmt.Sprint(Digits))
	v.Set("period", fmt.Sprint(int(Period/time.Second)))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}

// Step is the TOTP time step of t.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code returns the code of a secret at step (for tests and enrolment
// checks).
func Code(secret string, step int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(step*int64(Period/time.Second), 0).UTC(),
		totp.ValidateOpts{Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// Verify checks a code against a secret at now and returns the step it
// matched. A step at or before lastUsed is refused even when the code is
// right: each code works once, so a code read over a shoulder or replayed
// from a log is worth nothing once used.
func Verify(secret, code string, now time.Time, lastUsed int64) (step int64, ok bool) {
	code = strings.TrimSpace(strings.ReplaceAll(code, " ", ""))
	if len(code) != Digits {
		return 0, false
	}
	cur := Step(now)
	match := int64(-1)
	for s := cur - Skew; s <= cur+Skew; s++ {
		want, err := Code(secret, s)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && match < 0 {
			match = s
		}
	}
	if match < 0 || match <= lastUsed {
		return 0, false
	}
	return match, true
}

// RecoveryCodes is how many single-use recovery codes an enrolment gives.
const RecoveryCodes = 10

// recoveryAlphabet has no 0/O or 1/I/L, so a code read off paper is typed
// right.
const recoveryAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// NewRecoveryCodes returns RecoveryCodes random codes like "7KQ4-M2XP-9DRT"
// (60 bits each): shown once, stored only as hashes.
func NewRecoveryCodes() []string {
	codes := make([]string, RecoveryCodes)
	for i := range codes {
		b := make([]byte, 12)
		rand.Read(b)
		var s strings.Builder
		for j, c := range b {
			if j > 0 && j%4 == 0 {
				s.WriteByte('-')
			}
			s.WriteByte(recoveryAlphabet[int(c)%len(recoveryAlphabet)])
		}
		codes[i] = s.String()
	}
	return codes
}

// NormalizeRecoveryCode upper-cases a typed code and drops spaces and
// dashes; ok is false when it cannot be a recovery code.
func NormalizeRecoveryCode(code string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		switch {
		case r == '-' || r == ' ':
		case strings.ContainsRune(recoveryAlphabet, r):
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	return b.String(), b.Len() == 12
}

// HashRecoveryCode hashes a normalized recovery code with a key (the
// vault's, for this purpose): 60 random bits need no slow hash, and the key
// keeps a stolen table from being checked offline.
func HashRecoveryCode(key []byte, staffID int64, normalized string) []byte {
	h := sha256.New()
	h.Write(key)
	fmt.Fprintf(h, "\x00recovery\x00%d\x00%s", staffID, normalized)
	return h.Sum(nil)
}

// An enrolment code lets a new (or reset) account enrol its second factor:
// an admin hands it over out of band, so that a password alone — copied,
// guessed or phished — cannot enrol a stranger's authenticator. Ten
// Crockford base32 characters (50 bits) like "7KQ4M-2XP9D"; letters that
// look alike are read as one (O as 0, I and L as 1).
const enrolAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// EnrolCodeLength is the number of characters in an enrolment code.
const EnrolCodeLength = 10

// NewEnrolCode returns a random enrolment code, to be shown once and
// stored only as its hash.
func NewEnrolCode() string {
	b := make([]byte, EnrolCodeLength)
	rand.Read(b)
	var s strings.Builder
	for i, c := range b {
		if i == EnrolCodeLength/2 {
			s.WriteByte('-')
		}
		s.WriteByte(enrolAlphabet[c&31])
	}
	return s.String()
}

// NormalizeEnrolCode upper-cases a typed enrolment code, drops spaces and
// dashes and reads look-alike letters as digits; ok is false when it cannot
// be an enrolment code.
func NormalizeEnrolCode(code string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(code) {
		switch r {
		case '-', ' ':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if !strings.ContainsRune(enrolAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	return b.String(), b.Len() == EnrolCodeLength
}

// HashEnrolCode hashes a normalized enrolment code with a key, as
// HashRecoveryCode does: 50 random bits that expire and lock the account
// after a few wrong guesses need no slow hash.
func HashEnrolCode(key []byte, staffID int64, normalized string) []byte {
	h := sha256.New()
	h.Write(key)
	fmt.Fprintf(h, "\x00enrol\x00%d\x00%s", staffID, normalized)
	return h.Sum(nil)
}
