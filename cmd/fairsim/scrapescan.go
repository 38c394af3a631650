package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"
)

// identityOf is one seeded patient's personal data: what a scraper wants.
type identityOf struct {
	Name, ID, Phone string
}

// people are the seeded patients, indexed by each personal field so that
// any text can be searched for all of them at once.
type people struct {
	list                  []identityOf
	byName, byID, byPhone map[string]int
	longestName           int // in runes
}

// Field names of a personal record.
const (
	fieldName  = "name"
	fieldID    = "id_number"
	fieldPhone = "phone"
)

// Made-up names: a surname and two given characters, 40·40·40 distinct
// three-character names. Mask (张*) and doctors' names never match one.
var (
	surnames = []rune("赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜戚谢邹喻柏水窦章")
	given    = []rune("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彩春菊兰凤洁梅琳素云莲真")
)

// maxPeople is how many distinct made-up identities there are.
var maxPeople = len(surnames) * len(given) * len(given)

// seededPerson is the n-th made-up patient: a three-character name, a valid
// resident ID number and a mobile phone, each distinct from every other's.
func seededPerson(n int) identityOf {
	s, g := len(surnames), len(given)
	name := string([]rune{surnames[n%s], given[(n/s)%g], given[(n/s/g)%g]})
	return identityOf{Name: name, ID: residentID(n), Phone: fmt.Sprintf("139%08d", n)}
}

func newPeople(n int) *people {
	p := &people{byName: map[string]int{}, byID: map[string]int{}, byPhone: map[string]int{}}
	for i := range n {
		x := seededPerson(i)
		p.list = append(p.list, x)
		p.byName[x.Name], p.byID[x.ID], p.byPhone[x.Phone] = i, i, i
		p.longestName = max(p.longestName, utf8.RuneCountInString(x.Name))
	}
	return p
}

// exposure is a personal field of a seeded patient found in clear.
type exposure struct {
	Person int
	Field  string
}

var digitRun = regexp.MustCompile(`[0-9][0-9Xx]{10,}`)

// find returns every seeded patient's name, ID number or phone that b holds
// in clear. JSON is decoded and re-encoded first, so that a \u-escaped name
// is found too.
func (p *people) find(b []byte) []exposure {
	var out []exposure
	seen := map[exposure]bool{}
	add := func(i int, f string) {
		e := exposure{i, f}
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	texts := [][]byte{b}
	if json.Valid(b) && bytes.Contains(b, []byte(`\u`)) {
		var v any
		if json.Unmarshal(b, &v) == nil {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if enc.Encode(v) == nil {
				texts = append(texts, buf.Bytes())
			}
		}
	}
	for _, t := range texts {
		// ID numbers and phones: every 18- and 11-character window of a run
		// of digits (a phone may sit inside a longer number).
		for _, run := range digitRun.FindAll(t, -1) {
			for w, m := range map[int]map[string]int{18: p.byID, 11: p.byPhone} {
				f := map[int]string{18: fieldID, 11: fieldPhone}[w]
				for i := 0; i+w <= len(run); i++ {
					if j, ok := m[string(bytes.ToUpper(run[i:i+w]))]; ok {
						add(j, f)
					}
				}
			}
		}
		// Names: every substring of a run of Han characters, up to the
		// longest name's length.
		var han []int // byte offsets of the current run's runes
		flush := func(end int) {
			for i := range han {
				for k := i + 1; k <= len(han) && k-i <= p.longestName; k++ {
					stop := end
					if k < len(han) {
						stop = han[k]
					}
					if j, ok := p.byName[string(t[han[i]:stop])]; ok {
						add(j, fieldName)
					}
				}
			}
			han = han[:0]
		}
		for i := 0; i < len(t); {
			r, size := utf8.DecodeRune(t[i:])
			if unicode.Is(unicode.Han, r) {
				han = append(han, i)
			} else if len(han) > 0 {
				flush(i)
			}
			i += size
		}
		if len(han) > 0 {
			flush(len(t))
		}
	}
	return out
}

// exposed tallies what an attack got: the distinct other patients of whom
// at least one full personal field was seen, and the fields.
type exposed struct {
	own    int // the attacker's own patient, or -1
	fields map[exposure]bool
}

func newExposed(own int) *exposed { return &exposed{own: own, fields: map[exposure]bool{}} }

func (e *exposed) add(p *people, body []byte) {
	for _, x := range p.find(body) {
		if x.Person != e.own {
			e.fields[x] = true
		}
	}
}

// records is the number of distinct other patients exposed.
func (e *exposed) records() int {
	ps := map[int]bool{}
	for x := range e.fields {
		ps[x.Person] = true
	}
	return len(ps)
}
