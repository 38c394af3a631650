package fairslot

import (
	"fmt"
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
			return "", E(Invalid, "error.id.passport", "passport number must be 5 to 17 letters or digits").On("id_number")
		}
	case IDVNCitizen:
		if len(n) != 12 || !allFunc(n, isDigit) {
			return "", E(Invalid, "error.id.vn_cccd", "citizen identity number must be 12 digits").On("id_number")
		}
	case IDHKMacau:
		if len(n) != 9 || (n[0] != 'H' && n[0] != 'M') || !allFunc(n[1:], isDigit) {
			return "", E(Invalid, "error.id.hk_macau", "Hong Kong/Macau permit number must be H or M followed by 8 digits").On("id_number")
		}
	default:
		return "", &Error{Kind: Invalid, Key: "error.id.type", Field: "id_type", Message: fmt.Sprintf("unknown ID type %q", t)}
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
		return E(Invalid, "error.id.resident_format", "resident ID number must be 17 digits followed by a digit or X").On("id_number")
	}
	if _, err := time.Parse("20060102", n[6:14]); err != nil {
		return E(Invalid, "error.id.resident_birth", "resident ID number holds an impossible birth date").On("id_number")
	}
	if ResidentCheckDigit(n) != n[17] {
		return E(Invalid, "error.id.resident_check", "resident ID number check digit is wrong").On("id_number")
	}
	return nil
}

// DefaultPhoneCountry is the country calling code NormalizePhone assumes for
// a number written without one: China's. A hospital elsewhere sets its own
// (config phone_country) and calls NormalizePhoneIn.
const DefaultPhoneCountry = "86"

// NormalizePhone is NormalizePhoneIn with China as the default country.
func NormalizePhone(phone string) (string, error) {
	return NormalizePhoneIn(phone, DefaultPhoneCountry)
}

// NormalizePhoneIn returns a phone number's one spelling, or an Invalid
// error. Spaces, dashes, dots and brackets are dropped; an international
// prefix 00 is read as +; a national number with its trunk 0 in a country
// other than China takes the default country's code. The result is E.164
// ("+84912345678") — except Chinese numbers, which keep the national form
// every blind index stored before this rule was computed on (accounts and
// patients found by phone_index): "13800138000", "+8613800138000",
// "008613800138000" and "+86 138-0013-8000" are all "13800138000", a Chinese
// landline "010 1234 5678" (or +86 10 …) is "01012345678". So the stored
// form of a Chinese number never changed; a number stored in another
// country's national form before (a Vietnamese "0912345678") is now
// "+84912345678" and its old row is not found by the new spelling.
// country is a calling code without +, such as "86" or "84".
func NormalizePhoneIn(phone, country string) (string, error) {
	var b strings.Builder
	plus := false
	for i, r := range strings.TrimSpace(phone) {
		switch {
		case isDigit(r):
			b.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", E(Invalid, "error.phone.chars", "phone number may hold only digits, spaces, dashes and a leading +").On("phone")
		}
	}
	d := b.String()
	if !plus && strings.HasPrefix(d, "00") {
		plus, d = true, d[2:]
	}
	if !plus && country != DefaultPhoneCountry && strings.HasPrefix(d, "0") {
		plus, d = true, country+d[1:] // a national number with its trunk 0
	}
	if plus && strings.HasPrefix(d, DefaultPhoneCountry) && country == DefaultPhoneCountry {
		// China: the national form, as stored before E.164 (see above).
		n := d[len(DefaultPhoneCountry):]
		if strings.HasPrefix(n, "0") {
			return "", E(Invalid, "error.phone.cn_zero", "a number after +86 never starts with 0").On("phone")
		}
		if len(n) != 11 || n[0] != '1' {
			n = "0" + n // not a mobile: a landline keeps its trunk 0
		}
		plus, d = false, n
	}
	if plus && strings.HasPrefix(d, "0") {
		return "", E(Invalid, "error.phone.country_zero", "a country calling code never starts with 0").On("phone")
	}
	if len(d) < 6 || len(d) > 15 {
		return "", E(Invalid, "error.phone.length", "phone number must have 6 to 15 digits").On("phone")
	}
	if plus {
		return "+" + d, nil
	}
	return d, nil
}

// NormalizeName trims a person's name and checks its length.
func NormalizeName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", E(Invalid, "error.name.utf8", "name must be valid UTF-8").On("name")
	}
	n := strings.Join(strings.Fields(name), " ")
	if n == "" {
		return "", E(Invalid, "error.name.required", "name is required").On("name")
	}
	if utf8.RuneCountInString(n) > 64 {
		return "", E(Invalid, "error.name.long", "name must be at most %d characters", 64).On("name")
	}
	for _, r := range n {
		if unicode.IsControl(r) {
			return "", E(Invalid, "error.name.control", "name holds a control character").On("name")
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
