package web

import (
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/app"
)

// offerArgs is the dot of me.html's "meoffer" partial.
type offerArgs struct {
	Page  any
	Offer *app.Offer
	Key   string
}

// parse reads the catalogue and every page: templates/layout.html with one
// templates/NAME.html each, which defines "content".
// Times are shown in the hospital's zone, loc.
func parse(files fs.FS, loc *time.Location) (*catalogue, map[string]*template.Template, error) {
	cat, err := loadCatalogue(files)
	if err != nil {
		return nil, nil, err
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, nil, err
	}
	funcs := template.FuncMap{
		"hhmm":  func(t time.Time) string { return t.In(loc).Format("15:04") },
		"day":   func(t time.Time) string { return t.In(loc).Format("2006-01-02") },
		"stamp": func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04") },
		"list":  func(xs ...string) []string { return xs },
		"money": func(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) },
		"qr":    qrSVG,
		"key":   func(prefix string, v any) string { return prefix + "." + fmt.Sprint(v) },
		// offer is the dot of me.html's "meoffer" partial: the pay form's
		// own idempotency key.
		"offer": func(page any, o *app.Offer) offerArgs { return offerArgs{Page: page, Offer: o, Key: newKey()} },
		// reveal is the dot of the "revealform" partial (layout.html).
		"reveal": func(page any, bookingID int64, back string) revealArgs {
			return revealArgs{Page: page, BookingID: bookingID, Back: back, Fields: revealFields, Reasons: access.Reasons}
		},
	}
	out := map[string]*template.Template{}
	// Files named *.part.html are partials every page may include (a block
	// of one page kept in a file of its own, e.g. me_rights.part.html), not
	// pages.
	partials, err := fs.Glob(files, "templates/*.part.html")
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || strings.HasSuffix(name, ".part") {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(files, append([]string{"templates/layout.html", n}, partials...)...)
		if err != nil {
			return nil, nil, err
		}
		out[name] = t
	}
	return cat, out, nil
}
