package web

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"time"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// The catalogue is one JSON file per language under i18n/, every key in
// every file. A key is a dotted name ("booking.pay"), never display text, so
// a string that escaped translation shows as its key and the browser tests
// find it.

// Locale is one language the pages speak.
type Locale struct {
	Code string // the BCP 47 code for <html lang> and the language cookie
	Name string // the language's own name, for the switcher
	p    *message.Printer
	// The hospital's zone, currency and name translations (format.go).
	loc   *time.Location
	cur   currency.Unit
	names map[string]string
}

// locales lists the languages; the first is the default when the browser
// asks for none of them.
var localeNames = []struct{ code, name string }{{"zh-CN", "简体中文"}, {"vi", "Tiếng Việt"}, {"en", "English"}}

type catalogue struct {
	locales []*Locale
	matcher language.Matcher
	keys    []string
}

// loadCatalogue reads the catalogue and checks that every language has
// every key: a missing translation stops the server at start-up, not a
// patient at the counter.
func loadCatalogue(files fs.FS, h Hospital) (*catalogue, error) {
	cur, err := h.unit()
	if err != nil {
		return nil, err
	}
	b := catalog.NewBuilder(catalog.Fallback(language.MustParse(localeNames[0].code)))
	c := &catalogue{}
	var tags []language.Tag
	var want map[string]string
	for _, l := range localeNames {
		raw, err := fs.ReadFile(files, "i18n/"+l.code+".json")
		if err != nil {
			return nil, err
		}
		var msgs map[string]string
		if err := json.Unmarshal(raw, &msgs); err != nil {
			return nil, fmt.Errorf("catalogue %s: %w", l.code, err)
		}
		if want == nil {
			want = msgs
		}
		for k := range want {
			if msgs[k] == "" {
				return nil, fmt.Errorf("catalogue %s: no translation for %q", l.code, k)
			}
		}
		for k := range msgs {
			if _, ok := want[k]; !ok {
				return nil, fmt.Errorf("catalogue %s: %q is in no other language", l.code, k)
			}
		}
		tag := language.MustParse(l.code)
		for k, v := range msgs {
			if err := b.SetString(tag, k, v); err != nil {
				return nil, err
			}
		}
		tags = append(tags, tag)
		c.locales = append(c.locales, &Locale{Code: l.code, Name: l.name, p: message.NewPrinter(tag, message.Catalog(b)),
			loc: h.location(), cur: cur, names: h.Names[l.code]})
	}
	c.matcher = language.NewMatcher(tags)
	c.keys = slices.Sorted(maps.Keys(want))
	return c, nil
}

// LangCookie keeps the language a visitor chose.
const LangCookie = "fairslot_lang"

// locale picks the visitor's language: the page's ?lang= (a display
// board's screen is set up by its address), else the one they chose, else
// the best match for the browser's Accept-Language, else the default.
func (c *catalogue) locale(r *http.Request) *Locale {
	if l := c.byCode(r.URL.Query().Get("lang")); l != nil {
		return l
	}
	if ck, err := r.Cookie(LangCookie); err == nil {
		if l := c.byCode(ck.Value); l != nil {
			return l
		}
	}
	_, i := language.MatchStrings(c.matcher, r.Header.Get("Accept-Language"))
	return c.locales[i]
}

// byCode returns the locale with a code, or nil.
func (c *catalogue) byCode(code string) *Locale {
	for _, l := range c.locales {
		if l.Code == code {
			return l
		}
	}
	return nil
}

// T translates a catalogue key, formatting args into it.
func (l *Locale) T(key string, args ...any) string { return l.p.Sprintf(key, args...) }
