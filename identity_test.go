package fairslot_test

import (
	"testing"

	"github.com/fairslot/fairslot"
)

func TestNormalizeID(t *testing.T) {
	tests := []struct {
		typ     fairslot.IDType
		in      string
		want    string
		wantErr bool
	}{
		{fairslot.IDResident, "11010519491231002X", "11010519491231002X", false},
		{fairslot.IDResident, " 11010519491231002x ", "11010519491231002X", false}, // lower-case x and spaces
		{fairslot.IDResident, "110105194912310021", "", true},                      // wrong check digit
		{fairslot.IDResident, "11010519491331002X", "", true},                      // month 13
		{fairslot.IDResident, "1101051949123100", "", true},                        // too short
		{fairslot.IDResident, "11010519491231002Y", "", true},                      // bad last char
		{fairslot.IDPassport, "e12345678", "E12345678", false},
		{fairslot.IDPassport, "E1", "", true},
		{fairslot.IDPassport, "E1234-5678", "", true},
		{fairslot.IDVNCitizen, "001099012345", "001099012345", false},
		{fairslot.IDVNCitizen, "00109901234", "", true},
		{fairslot.IDHKMacau, "H12345678", "H12345678", false},
		{fairslot.IDHKMacau, "X12345678", "", true},
		{"driving_licence", "123", "", true},
	}
	for _, tt := range tests {
		got, err := fairslot.NormalizeID(tt.typ, tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizeID(%s, %q) = %q, %v; want %q, error %v", tt.typ, tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && fairslot.ErrorKind(err) != fairslot.Invalid {
			t.Errorf("NormalizeID(%s, %q) error kind = %s, want invalid", tt.typ, tt.in, fairslot.ErrorKind(err))
		}
	}
}

func TestResidentCheckDigitAllPositions(t *testing.T) {
	// Changing any single digit of a valid number must change the check digit
	// (GB 11643 detects all single-digit errors).
	base := "11010519491231002X"
	for i := 0; i < 17; i++ {
		b := []byte(base)
		b[i] = '0' + (b[i]-'0'+1)%10
		if fairslot.ResidentCheckDigit(string(b)) == base[17] {
			t.Errorf("changing digit %d left the check digit %c unchanged", i, base[17])
		}
	}
}

func TestResidentCheckDigitRejectsShortInput(t *testing.T) {
	for _, in := range []string{"", "1101051949", "1101051949123100A"} {
		if got := fairslot.ResidentCheckDigit(in); got != 0 {
			t.Errorf("ResidentCheckDigit(%q) = %q, want 0", in, got)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct{ in, country, want string }{
		// China, the default: one phone however it is written, in the
		// national form blind indexes were always computed on.
		{"13800138000", "86", "13800138000"},
		{"+8613800138000", "86", "13800138000"},
		{"008613800138000", "86", "13800138000"},
		{"+86 138-0013-8000", "86", "13800138000"},
		{"138 1234 5678", "86", "13812345678"},
		{"(010) 1234-5678", "86", "01012345678"},
		{"+86 10 1234 5678", "86", "01012345678"},
		{"+84-912-345-678", "86", "+84912345678"},
		{"0084912345678", "86", "+84912345678"},
		// Vietnam as the hospital's country: the trunk 0 becomes +84.
		{"0912345678", "84", "+84912345678"},
		{"+84912345678", "84", "+84912345678"},
		{"0084 91 234 5678", "84", "+84912345678"},
		{"+8613800138000", "84", "+8613800138000"},
		// Refused.
		{"12345", "86", ""},
		{"138a12345678", "86", ""},
		{"1+3812345678", "86", ""},
		{"+0912345678", "86", ""},
		{"+86", "86", ""},
		{"+1234567890123456", "86", ""},
	}
	for _, tt := range tests {
		got, err := fairslot.NormalizePhoneIn(tt.in, tt.country)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("NormalizePhoneIn(%q, %q) = %q, %v; want %q", tt.in, tt.country, got, err, tt.want)
		}
		if err == nil {
			if again, err := fairslot.NormalizePhoneIn(got, tt.country); again != got || err != nil {
				t.Errorf("NormalizePhoneIn(%q, %q) = %q, %v; not a fixed point", got, tt.country, again, err)
			}
		}
	}
	if got, _ := fairslot.NormalizePhone("+86 138-0013-8000"); got != "13800138000" {
		t.Errorf("NormalizePhone(+86 138-0013-8000) = %q, want 13800138000", got)
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  张三 ", "张三"},
		{"Nguyễn   Văn\tAn", "Nguyễn Văn An"},
		{"", ""},
		{"a\x07b", ""},
		{"\xff\xfe", ""},
	}
	for _, tt := range tests {
		got, err := fairslot.NormalizeName(tt.in)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCanMove(t *testing.T) {
	tests := []struct {
		from, to fairslot.Status
		want     bool
	}{
		{fairslot.Held, fairslot.Confirmed, true},
		{fairslot.Held, fairslot.CheckedIn, false},
		{fairslot.Confirmed, fairslot.CheckedIn, true},
		{fairslot.CheckedIn, fairslot.Called, true},
		{fairslot.Called, fairslot.Completed, true},
		{fairslot.Completed, fairslot.Cancelled, false},
		{fairslot.Expired, fairslot.Confirmed, false},
		{fairslot.Cancelled, fairslot.Held, false},
	}
	for _, tt := range tests {
		if got := fairslot.CanMove(tt.from, tt.to); got != tt.want {
			t.Errorf("CanMove(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestRolePermissions(t *testing.T) {
	if fairslot.DoctorRole.Can(fairslot.ActCheckIn) {
		t.Error("a doctor may check patients in; want only registrars, nurses and admins")
	}
	if !fairslot.Registrar.Can(fairslot.ActWalkIn) || fairslot.Registrar.Can(fairslot.ActCall) {
		t.Error("registrar permissions wrong: want walk-in, not call")
	}
	if fairslot.Role("janitor").Valid() {
		t.Error("unknown role reported valid")
	}
}

func TestTicketLabel(t *testing.T) {
	tests := []struct {
		n    int
		k    fairslot.Ticket
		want string
	}{
		{0, fairslot.Ticket{Prefix: fairslot.TicketPrefix(0), Number: 1}, "A001"},
		{1, fairslot.Ticket{Prefix: fairslot.TicketPrefix(1), Number: 12}, "B012"},
		{25, fairslot.Ticket{Prefix: fairslot.TicketPrefix(25), Number: 7}, "Z007"},
		{26, fairslot.Ticket{Prefix: fairslot.TicketPrefix(26), Number: 7}, "AA007"},
		{27, fairslot.Ticket{Prefix: fairslot.TicketPrefix(27), Number: 100}, "AB100"},
		{52, fairslot.Ticket{Prefix: fairslot.TicketPrefix(52), Number: 1}, "BA001"},
		{-1, fairslot.Ticket{Number: 3}, "A003"}, // a ticket read without its prefix
	}
	for _, tt := range tests {
		if got := tt.k.Label(); got != tt.want {
			t.Errorf("prefix %d: Label = %q, want %q", tt.n, got, tt.want)
		}
	}
	seen := map[string]int{}
	for n := range 26 * 27 {
		p := fairslot.TicketPrefix(n)
		if m, ok := seen[p]; ok {
			t.Fatalf("TicketPrefix(%d) = TicketPrefix(%d) = %q", n, m, p)
		}
		seen[p] = n
	}
}
