package fairslot

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// IDType is the kind of identity document a patient is registered with.
type IDType string

const (
	IDResident  IDType = "cn_resident" // Chinese resident identity card, GB 11643
	IDPassport  IDType = "passport"
	IDVNCitizen IDType = "vn_cccd" // Vietnamese citizen identity card (CCCD), 12 digits
	IDHKMacau   IDType = "hk_macau_permit"
)

// NormalizeID returns the canonical form of an ID number (trimmed, upper case),
// or an Invalid error when it is not a well-formed number of that type.
func NormalizeID(t IDType, number string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(number))
	switch t {
	case IDResident:
		if err := checkResidentID(n); err != nil {
			return "", err
		}
	case IDPassport:
		if len(n) < 5 || len(n) > 17 || !allFunc(n, isUpperAlnum) {
			return "", Errorf(Invalid, "passport number must be 5 to 17 letters or digits")
		}
	case IDVNCitizen:
		if len(n) != 12 || !allFunc(n, isDigit) {
			return "", Errorf(Invalid, "citizen identity number must be 12 digits")
		}
	case IDHKMacau:
		if len(n) != 9 || (n[0] != 'H' && n[0] != 'M') || !allFunc(n[1:], isDigit) {
			return "", Errorf(Invalid, "Hong Kong/Macau permit number must be H or M followed by 8 digits")
		}
	default:
		return "", Errorf(Invalid, "unknown ID type %q", t)
	}
	return n, nil
}

// residentWeights are the GB 11643-1999 weights 2^(17-i) mod 11.
var residentWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const residentCheckChars = "10X98765432"

// ResidentCheckDigit returns the GB 11643 check character for the first 17
// digits of a resident ID number, or 0 when they are not 17 digits.
func ResidentCheckDigit(first17 string) byte {
	if len(first17) < 17 || !allFunc(first17[:17], isDigit) {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * residentWeights[i]
	}
	return residentCheckChars[sum%11]
}

func checkResidentID(n string) error {
	if len(n) != 18 || !allFunc(n[:17], isDigit) || !(isDigit(rune(n[17])) || n[17] == 'X') {
		return Errorf(Invalid, "resident ID number must be 17 digits followed by a digit or X")
	}
	if _, err := time.Parse("20060102", n[6:14]); err != nil {
		return Errorf(Invalid, "resident ID number holds an impossible birth date")
	}
	if ResidentCheckDigit(n) != n[17] {
		return Errorf(Invalid, "resident ID number check digit is wrong")
	}
	return nil
}

// NormalizePhone returns a phone number reduced to digits (and a leading +),
// or an Invalid error.
func NormalizePhone(phone string) (string, error) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(phone) {
		switch {
		case isDigit(r):
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-':
		default:
			return "", Errorf(Invalid, "phone number may hold only digits, spaces, dashes and a leading +")
		}
	}
	p := b.String()
	if d := strings.TrimPrefix(p, "+"); len(d) < 6 || len(d) > 15 {
		return "", Errorf(Invalid, "phone number must have 6 to 15 digits")
	}
	return p, nil
}

// NormalizeName trims a person's name and checks its length.
func NormalizeName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", Errorf(Invalid, "name must be valid UTF-8")
	}
	n := strings.Join(strings.Fields(name), " ")
	if n == "" {
		return "", Errorf(Invalid, "name is required")
	}
	if utf8.RuneCountInString(n) > 64 {
		return "", Errorf(Invalid, "name must be at most 64 characters")
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return "", Errorf(Invalid, "name holds a control character")
		}
	}
	return n, nil
}

func allFunc(s string, f func(rune) bool) bool {
	for _, r := range s {
		if !f(r) {
			return false
		}
	}
	return true
}

func isDigit(r rune) bool      { return r >= '0' && r <= '9' }
func isUpperAlnum(r rune) bool { return isDigit(r) || (r >= 'A' && r <= 'Z') }
