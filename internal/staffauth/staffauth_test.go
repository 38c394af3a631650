package staffauth_test

import (
	"bytes"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/staffauth"
)

func TestPasswordPolicy(t *testing.T) {
	for _, c := range []struct {
		pw   string
		ok   bool
		note string
	}{
		{"short", false, "too short"},
		{"password1234", false, "common"},
		{"Password1234!", false, "common with decoration"},
		{"qwertyuiop123", false, "keyboard walk"},
		{"fairslot-demo", false, "the product's name"},
		{"wangfang2026!", false, "the user's name and a year"},
		{"centralhospital", false, "the hospital"},
		{"aaaaaaaaaaaaaaaa", false, "repeats"},
		{"lantern orbit pickle fjord", true, "passphrase"},
		{"Tq7#vR2m!xW9pL", true, "random"},
		{strings.Repeat("x", 300), false, "too long"},
	} {
		err := staffauth.CheckPassword(c.pw, "wangfang", "Wang Fang", "Central Hospital")
		if (err == nil) != c.ok {
			t.Errorf("%s (%q): err = %v, want ok=%v", c.note, c.pw, err, c.ok)
		}
		if err != nil && err != staffauth.ErrWeakPassword {
			t.Errorf("%s: error %v is not the one policy message", c.note, err)
		}
	}
}

func TestTOTPEachStepOnce(t *testing.T) {
	secret := staffauth.NewSecret()
	now := time.Date(2026, 12, 1, 9, 0, 10, 0, time.UTC)
	cur := staffauth.Step(now)
	code, err := staffauth.Code(secret, cur)
	if err != nil {
		t.Fatal(err)
	}
	step, ok := staffauth.Verify(secret, code, now, 0)
	if !ok || step != cur {
		t.Fatalf("Verify = %d %v, want %d true", step, ok, cur)
	}
	if _, ok := staffauth.Verify(secret, code, now, step); ok {
		t.Error("the same code was accepted twice (replay)")
	}
	// The previous step is late but allowed once; two steps back is not.
	prev, _ := staffauth.Code(secret, cur-1)
	if s, ok := staffauth.Verify(secret, prev, now, 0); !ok || s != cur-1 {
		t.Errorf("one step of drift refused: %d %v", s, ok)
	}
	if _, ok := staffauth.Verify(secret, prev, now, cur); ok {
		t.Error("an older step was accepted after a newer one was used")
	}
	old, _ := staffauth.Code(secret, cur-2)
	if _, ok := staffauth.Verify(secret, old, now, 0); ok && old != code && old != prev {
		t.Error("a code two steps old was accepted")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := staffauth.Verify(secret, bad, now, 0); ok {
			t.Errorf("Verify(%q) accepted", bad)
		}
	}
	if _, ok := staffauth.Verify(staffauth.NewSecret(), code, now, 0); ok && staffauth.NewSecret() != secret {
		// A 1-in-a-million chance; a second fresh secret makes a false alarm vanishingly rare.
		t.Log("another secret's code matched by chance")
	}
}

func TestURL(t *testing.T) {
	u, err := url.Parse(staffauth.URL("fairslot Central", "desk", "ABCDEF"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != "ABCDEF" || u.Query().Get("period") != "30" || u.Query().Get("digits") != "6" {
		t.Errorf("URL = %s", u)
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes := staffauth.NewRecoveryCodes()
	if len(codes) != 10 {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	key := []byte("k")
	for _, c := range codes {
		n, ok := staffauth.NormalizeRecoveryCode(strings.ToLower(strings.ReplaceAll(c, "-", " ")))
		if !ok || seen[n] {
			t.Fatalf("code %q: normalized %q ok=%v (dup=%v)", c, n, ok, seen[n])
		}
		seen[n] = true
		if !bytes.Equal(staffauth.HashRecoveryCode(key, 1, n), staffauth.HashRecoveryCode(key, 1, n)) ||
			bytes.Equal(staffauth.HashRecoveryCode(key, 1, n), staffauth.HashRecoveryCode(key, 2, n)) {
			t.Error("hash not stable per staff member")
		}
	}
	for _, bad := range []string{"", "123456", "ABCD-EFGH-JKM0", "ABCD-EFGH"} {
		if _, ok := staffauth.NormalizeRecoveryCode(bad); ok {
			t.Errorf("NormalizeRecoveryCode(%q) ok", bad)
		}
	}
}

func TestEnrolCodes(t *testing.T) {
	key := []byte("k")
	seen := map[string]bool{}
	for range 50 {
		c := staffauth.NewEnrolCode()
		if len(c) != staffauth.EnrolCodeLength+1 || c[5] != '-' {
			t.Fatalf("code %q is not two groups of five", c)
		}
		n, ok := staffauth.NormalizeEnrolCode(c)
		if !ok || seen[n] {
			t.Fatalf("code %q: normalized %q ok=%v (dup=%v)", c, n, ok, seen[n])
		}
		seen[n] = true
		typed := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(c, "-", " "), "0", "o"), "1", "l"))
		if got, ok := staffauth.NormalizeEnrolCode(typed); !ok || got != n {
			t.Errorf("NormalizeEnrolCode(%q) = %q, %v; want %q", typed, got, ok, n)
		}
		if bytes.Equal(staffauth.HashEnrolCode(key, 1, n), staffauth.HashEnrolCode(key, 2, n)) ||
			bytes.Equal(staffauth.HashEnrolCode(key, 1, n), staffauth.HashRecoveryCode(key, 1, n)) {
			t.Error("an enrolment code's hash is not bound to its staff member and purpose")
		}
	}
	for _, bad := range []string{"", "123456", "ABCDE-FGHJ", "ABCDE-FGHJKM", "ABCDE-FGHJU", "7KQ4-M2XP-9DRT"} {
		if _, ok := staffauth.NormalizeEnrolCode(bad); ok {
			t.Errorf("NormalizeEnrolCode(%q) ok", bad)
		}
	}
}
