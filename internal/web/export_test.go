package web

import (
	"io/fs"
	"net/http"
	"os"
	"testing/fstest"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// StaffPatterns lists the patterns of every staff page the pages register,
// so that tests walk all of them rather than a hand-kept list.
func StaffPatterns(p *Pages) []string {
	var out []string
	p.staffRoutes(func(pattern string, _ handler) { out = append(out, pattern) })
	return out
}

// OldAdmin serves the single admin page as it was before issue 14 item 5
// (testdata/admin_old.html, with the data its handler gave it): the
// baseline of the admin pages' weight. Call it after Handler.
func (p *Pages) OldAdmin() (http.Handler, error) {
	old, err := os.ReadFile("testdata/admin_old.html")
	if err != nil {
		return nil, err
	}
	files := fstest.MapFS{"templates/adminold.html": &fstest.MapFile{Data: old}}
	err = fs.WalkDir(embedded, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(embedded, path)
		files[path] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, l := range p.cat.locales {
		ts, err := parseLocale(files, l)
		if err != nil {
			return nil, err
		}
		p.tmpl[l.Code]["adminold"] = ts["adminold"]
	}
	type department struct {
		fairslot.Department
		Doctors  []fairslot.Doctor
		Sessions []app.SessionView
	}
	type page struct {
		Departments []department
		Release     release.Policy
	}
	return p.adapt(p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		ds, err := p.API.App.Departments(r.Context())
		if err != nil {
			return err
		}
		var out []department
		for _, d := range ds {
			ad := department{Department: d}
			if ad.Doctors, err = p.API.App.Doctors(r.Context(), d.ID); err != nil {
				return err
			}
			if ad.Sessions, err = p.API.App.Sessions(r.Context(), storage.SessionFilter{DepartmentID: d.ID}); err != nil {
				return err
			}
			out = append(out, ad)
		}
		return p.render(w, r, 200, "adminold", "admin.title", page{Departments: out, Release: p.API.App.Release})
	})), nil
}
