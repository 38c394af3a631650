package web

import (
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/release"
)

// offerArgs is the dot of me.html's "meoffer" partial.
type offerArgs struct {
	Page  any
	Offer *app.Offer
	Key   string
}

// pages is every page in every language: locale code, then page name.
type pages map[string]map[string]*template.Template

// parse reads the catalogue and every page: templates/layout.html and the
// shared partials (templates/partials/*.html) with one templates/NAME.html
// each, which defines "content". Each language has its own set, whose
// day, stamp, date, money and name functions write as that language does
// (format.go); times are shown in the hospital's zone, h.Location.
func parse(files fs.FS, h Hospital) (*catalogue, pages, error) {
	cat, err := loadCatalogue(files, h)
	if err != nil {
		return nil, nil, err
	}
	out := pages{}
	for _, l := range cat.locales {
		if out[l.Code], err = parseLocale(files, l); err != nil {
			return nil, nil, err
		}
	}
	return cat, out, nil
}

func parseLocale(files fs.FS, l *Locale) (map[string]*template.Template, error) {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	partials, err := fs.Glob(files, "templates/partials/*.html")
	if err != nil {
		return nil, err
	}
	loc := l.loc
	funcs := template.FuncMap{
		"hhmm":  func(t time.Time) string { return t.In(loc).Format("15:04") },
		"day":   l.Day,
		"stamp": l.Stamp,
		"date":  l.Date,
		"name":  l.NameOf,
		"list":  func(xs ...string) []string { return xs },
		"money": l.Money,
		"qr":    qrSVG,
		"key":   func(prefix string, v any) string { return prefix + "." + fmt.Sprint(v) },
		// offer is the dot of me.html's "meoffer" partial: the pay form's
		// own idempotency key.
		"offer": func(page any, o *app.Offer) offerArgs { return offerArgs{Page: page, Offer: o, Key: newKey()} },
		// words writes a duration as the locale does ("30 minutes");
		// minutes, in whole minutes for a form's number field; ruleargs
		// and doctorargs are the dots of the admin partials
		// (partials/admin.html).
		"words":          func(d fairslot.Duration) string { return l.duration(time.Duration(d)) },
		"minutes":        func(d fairslot.Duration) string { return strconv.FormatInt(int64(time.Duration(d)/time.Minute), 10) },
		"ruleargs":       func(page any, r release.Rule) ruleArgs { return ruleArgs{Page: page, Rule: r} },
		"doctorargs":     doctorArgsOf,
		"departmentargs": departmentArgsOf,
		// reveal is the dot of the "revealform" partial (layout.html).
		"reveal": func(page any, bookingID int64, back string) revealArgs {
			return revealArgs{Page: page, BookingID: bookingID, Back: back, Fields: revealFields, Reasons: access.Reasons}
		},
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(files, append([]string{"templates/layout.html", n}, partials...)...)
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}
