package fairslot_test

import (
	"testing"
	"unicode/utf8"

	"github.com/fairslot/fairslot"
)

// FuzzNormalizeID: any input either fails with an Invalid error or gives a
// number that normalizes to itself.
func FuzzNormalizeID(f *testing.F) {
	for _, s := range []string{"11010519491231002X", "11010519491231002x", "E12345678", "001099012345", "H12345678", "", "\x00"} {
		f.Add(s)
	}
	types := []fairslot.IDType{fairslot.IDResident, fairslot.IDPassport, fairslot.IDVNCitizen, fairslot.IDHKMacau}
	f.Fuzz(func(t *testing.T, in string) {
		for _, typ := range types {
			got, err := fairslot.NormalizeID(typ, in)
			if err != nil {
				if fairslot.ErrorKind(err) != fairslot.Invalid {
					t.Fatalf("NormalizeID(%s, %q): error kind %s", typ, in, fairslot.ErrorKind(err))
				}
				continue
			}
			if again, err := fairslot.NormalizeID(typ, got); err != nil || again != got {
				t.Fatalf("NormalizeID(%s, %q) = %q, which normalizes to %q, %v", typ, in, got, again, err)
			}
		}
	})
}

func FuzzNormalizePhoneAndName(f *testing.F) {
	for _, s := range []string{"138 1234 5678", "+84-912-345-678", "008613800138000", "0912345678", "张三", "  a  b ", "\u0007", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, country := range []string{"86", "84"} {
			if p, err := fairslot.NormalizePhoneIn(in, country); err == nil {
				if again, err := fairslot.NormalizePhoneIn(p, country); err != nil || again != p {
					t.Fatalf("NormalizePhoneIn(%q, %s) = %q, not a fixed point", in, country, p)
				}
			}
		}
		if n, err := fairslot.NormalizeName(in); err == nil {
			if !utf8.ValidString(in) {
				t.Fatalf("NormalizeName accepted invalid UTF-8 %q", in)
			}
			if again, err := fairslot.NormalizeName(n); err != nil || again != n {
				t.Fatalf("NormalizeName(%q) = %q, not a fixed point", in, n)
			}
		}
	})
}
