package app_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

// The masking rule (issue 12 item 6): a masked patient, as every response
// shows it, leaves at least minCandidates identities consistent with all it
// shows, and never shows the last four characters of the ID number, which
// check-in asks as proof. The test counts candidates exactly for each ID
// type from its structure (a resident ID's birth date and check digit
// included) against whatever Masked leaves visible — so showing the birth
// year again, or the old region-and-last-four mask, fails it.
const minCandidates = 10_000

func TestMaskedLeavesCandidates(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 6))
	for _, typ := range []fairslot.IDType{fairslot.IDResident, fairslot.IDPassport, fairslot.IDVNCitizen, fairslot.IDHKMacau} {
		for range 40 {
			p := randomPatient(r, typ)
			m := app.Masked(p)
			shown := fmt.Sprintf("%+v", m)
			if tail := p.IDNumber[len(p.IDNumber)-4:]; strings.Contains(m.IDNumber, tail) {
				t.Errorf("%s %s masked as %s shows the check-in proof %s", typ, p.IDNumber, m.IDNumber, tail)
			}
			if n := idCandidates(typ, m.IDNumber, m.BirthDate); n < minCandidates {
				t.Errorf("%s %s masked as %s with birth %q: %v candidates, want >= %d (shown: %s)", typ, p.IDNumber, m.IDNumber, m.BirthDate, n, minCandidates, shown)
			}
			if n := phoneCandidates(m.Phone); n < minCandidates {
				t.Errorf("phone %s masked as %s: %v candidates, want >= %d", p.Phone, m.Phone, n, minCandidates)
			}
		}
	}
}

// TestOldMaskFails keeps the counter honest: the mask the issue reports
// (region and last four, with the birth year) leaves about 33 numbers.
func TestOldMaskFails(t *testing.T) {
	id := "11010519491231002X"
	old := id[:6] + strings.Repeat("*", 8) + id[14:]
	if n := idCandidates(fairslot.IDResident, old, "1949"); n >= minCandidates || n < 1 {
		t.Fatalf("old mask %s with birth year: %v candidates, want a handful", old, n)
	}
}

func randomPatient(r *rand.Rand, typ fairslot.IDType) fairslot.Patient {
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		return b.String()
	}
	var id, birth string
	switch typ {
	case fairslot.IDResident:
		d := time.Date(1930, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(95*365))
		first := digits(6) + d.Format("20060102") + digits(3)
		id, birth = first+string(fairslot.ResidentCheckDigit(first)), d.Format(time.DateOnly)
	case fairslot.IDPassport:
		const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		n := 5 + r.IntN(13)
		b := make([]byte, n)
		for i := range b {
			b[i] = alnum[r.IntN(len(alnum))]
		}
		id, birth = string(b), "1980-05-06"
	case fairslot.IDVNCitizen:
		id, birth = digits(12), "1990-01-02"
	case fairslot.IDHKMacau:
		id, birth = string("HM"[r.IntN(2)])+digits(8), "1975-07-08"
	}
	if _, err := fairslot.NormalizeID(typ, id); err != nil {
		panic(err)
	}
	phones := []string{"13" + digits(9), "09" + digits(8), "+849" + digits(8), "6" + digits(7)}
	return fairslot.Patient{ID: 1, Name: "张三丰", IDType: typ, IDNumber: id, Phone: phones[r.IntN(len(phones))], BirthDate: birth}
}

// fits reports whether candidate agrees with every shown character of mask.
func fits(mask, candidate string) bool {
	if len(mask) != len(candidate) {
		return false
	}
	for i := range mask {
		if mask[i] != '*' && mask[i] != candidate[i] {
			return false
		}
	}
	return true
}

// idCandidates counts the ID numbers of type typ consistent with a mask and
// a shown birth date (a prefix of YYYY-MM-DD, "" when none is shown).
func idCandidates(typ fairslot.IDType, mask, birth string) float64 {
	n := len(mask)
	per := func(i int, alphabet string) float64 {
		if mask[i] != '*' {
			return 1
		}
		return float64(len(alphabet))
	}
	const digits = "0123456789"
	switch typ {
	case fairslot.IDResident:
		return residentCandidates(mask, birth)
	case fairslot.IDVNCitizen:
		// Digit 4 is the century and sex, 5–6 the birth year's last two.
		total := 1.0
		for i := range n {
			switch {
			case birth != "" && (i == 4 || i == 5):
			case birth != "" && i == 3:
				if mask[i] == '*' {
					total *= 2
				}
			default:
				total *= per(i, digits)
			}
		}
		return total
	case fairslot.IDHKMacau:
		total := per(0, "HM")
		for i := 1; i < n; i++ {
			total *= per(i, digits)
		}
		return total
	}
	total := 1.0
	for i := range n {
		total *= per(i, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
	}
	return total
}

// residentCandidates counts resident IDs (GB 11643: region, birth date,
// sequence, check character) consistent with a mask and a shown birth date
// prefix, by the distribution of the weighted digit sum modulo 11.
func residentCandidates(mask, birth string) float64 {
	if len(mask) != 18 {
		return 0
	}
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	dist := [11]float64{0: 1}
	addDigits := func(from, to int) { // free digits, each its own factor
		for i := from; i < to; i++ {
			var next [11]float64
			for r, c := range dist {
				for d := range 10 {
					if mask[i] != '*' && int(mask[i]-'0') != d {
						continue
					}
					next[(r+d*weights[i])%11] += c
				}
			}
			dist = next
		}
	}
	addDigits(0, 6)
	var dates [11]float64
	for d := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2027; d = d.AddDate(0, 0, 1) {
		s := d.Format("20060102")
		if !fits(mask[6:14], s) || !strings.HasPrefix(d.Format(time.DateOnly), birth) {
			continue
		}
		sum := 0
		for i := range 8 {
			sum += int(s[i]-'0') * weights[6+i]
		}
		dates[sum%11]++
	}
	var next [11]float64
	for r, c := range dist {
		for s, k := range dates {
			next[(r+s)%11] += c * k
		}
	}
	dist = next
	addDigits(14, 17)
	total := 0.0
	for r, c := range dist {
		if mask[17] == '*' || mask[17] == "10X98765432"[r] {
			total += c
		}
	}
	return total
}

func phoneCandidates(mask string) float64 {
	total := 1.0
	for i := range len(mask) {
		if mask[i] == '*' {
			total *= 10
		}
	}
	return total
}
