package web

import (
	"bytes"
	"net/http"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/kit"
	"github.com/fairslot/fairslot/internal/storage"
)

// The downtime kit in the console (issue 15 item 5): "print today's list"
// shows the kit's own page for a department the login may print (the
// check, the limit and the record are app.KitPrint's), and the desk form
// enters what the desk did on paper during an outage.
func (p *Pages) kitRoutes(h func(string, handler)) {
	h("GET /staff/kit/{id}", p.staff(p.kitPrint))
	h("GET /staff/kit/import", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		return p.kitImportForm(w, r, a, kitImportPage{})
	}))
	h("POST /staff/kit/import", p.staff(p.kitImport))
}

// kitCSP lets the print view's one inline style in; it has no script and
// loads nothing, as when it is opened from the share.
var kitCSP = "default-src 'none'; style-src " + kit.StyleCSP + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func (p *Pages) kitPrint(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := p.API.App.KitPrint(r.Context(), a, id); err != nil {
		return err
	}
	svc := p.API.App
	now := svc.Now().In(svc.Location)
	page, err := kit.StoreSource{Store: svc.Store, Vault: svc.Vault}.Page(r.Context(), id, kit.Dates(now, svc.Location))
	if err != nil {
		return err
	}
	// The reader's chosen language: the file kit is in the hospital's.
	page.Generated, page.Lang = now, p.cat.locale(r).Code
	var b bytes.Buffer
	if err := kit.HTML(&b, page); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Security-Policy", kitCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, err = w.Write(b.Bytes())
	return err
}

type kitImportPage struct {
	Sessions []app.SessionView
	IDTypes  []fairslot.IDType
	Now      string
	Done     []app.OutageLine
	Errors   []kit.LineError
	Text     string // the pasted rows, kept on an error
}

func (p *Pages) kitImportForm(w http.ResponseWriter, r *http.Request, a app.Actor, pg kitImportPage) error {
	if !a.Role.Can(fairslot.ActCheckIn) || a.Role == fairslot.Kiosk {
		return fairslot.E(fairslot.Forbidden, "error.kit.role", "the %s role does not enter the desk's paper records", a.Role)
	}
	today := p.today()
	var err error
	if pg.Sessions, err = p.API.App.Sessions(r.Context(), storage.SessionFilter{From: today, To: today}); err != nil {
		return err
	}
	pg.IDTypes, pg.Now = idTypes, p.API.App.Now().In(p.API.App.Location).Format("2006-01-02 15:04")
	return p.render(w, r, 200, "kitimport", "kit.import_title", pg)
}

// kitImport enters either one entry from the form's fields or the rows
// pasted as CSV (the kit's CSV format, header row first), all or nothing.
func (p *Pages) kitImport(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	svc := p.API.App
	pg := kitImportPage{Text: r.PostFormValue("rows")}
	text := pg.Text
	if strings.TrimSpace(text) == "" {
		// One entry from the fields: the same parser, the same rules.
		kind := r.PostFormValue("kind")
		fields := []string{kind, r.PostFormValue("code"), r.PostFormValue("id_last4"), r.PostFormValue("checked_in_at"), r.PostFormValue("session_id"),
			r.PostFormValue("name"), r.PostFormValue("id_type"), r.PostFormValue("id_number"), r.PostFormValue("phone"), r.PostFormValue("priority")}
		var b strings.Builder
		b.WriteString("kind,code,id_last4,checked_in_at,session,patient_name,id_type,id_number,phone,priority\n")
		for i, f := range fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(csvField(f))
		}
		text = b.String()
	}
	entries, err := kit.ParseImport(strings.NewReader(text), svc.Location)
	if errs, ok := err.(kit.ImportErrors); ok {
		pg.Errors = errs
		return p.kitImportForm(w, r, a, pg)
	}
	if err != nil {
		pg.Errors = []kit.LineError{{Line: 1, Err: err}}
		return p.kitImportForm(w, r, a, pg)
	}
	done, err := svc.EnterAfterOutage(r.Context(), a, "desk form "+time.Now().UTC().Format(time.RFC3339), outageEntries(entries))
	if oe, ok := err.(*app.OutageError); ok && fairslot.ErrorKind(oe.Err) != fairslot.Internal {
		pg.Errors = []kit.LineError{{Line: oe.Line, Err: oe.Err}}
		return p.kitImportForm(w, r, a, pg)
	}
	if err != nil {
		return err
	}
	pg.Done, pg.Text = done, ""
	return p.kitImportForm(w, r, a, pg)
}

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\r\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// outageEntries turns the desk file's parsed rows into the use case's
// entries.
func outageEntries(es []kit.Entry) []app.OutageEntry {
	out := make([]app.OutageEntry, len(es))
	for i, e := range es {
		out[i] = app.OutageEntry{Line: e.Line, Kind: e.Kind, At: e.At, Code: e.Code, IDLast4: e.IDLast4,
			WalkIn: app.WalkInInput{SessionID: e.SessionID, Priority: e.Priority,
				Patient: app.PatientInput{Name: e.Name, IDType: fairslot.IDType(e.IDType), IDNumber: e.IDNumber, Phone: e.Phone}}}
	}
	return out
}
