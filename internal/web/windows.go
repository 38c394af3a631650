package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

// The session page's time-window form (issue 14 item 5): one row per
// window — its start, end and places, and a box to remove it — and blank
// rows for new windows. Rows are numbered (start_0, end_0, …); a row
// that was a window carries the times it had (from_N, fromend_N), so a
// moved window is known from a new one. A booked window's times show
// read-only; the use case and the database refuse a change all the same.

// newWindowRows is how many blank rows the form offers for new windows.
const newWindowRows = 2

// windowRow is one row of the form.
type windowRow struct {
	I                 int
	From, FromEnd     string // HH:MM the window had; empty in a new row
	Start, End        string
	Places            string
	Booked            int // places patients booked: the window's times stay, its places do not drop below
	Remove, Removable bool
}

func windowsAction(id int64) string { return fmt.Sprintf("/staff/admin/sessions/%d/windows", id) }

// windowRows is the form's rows: the session's windows, or after a
// refusal the rows as typed.
func (p *Pages) windowRows(r *http.Request, id int64, uses []fairslot.WindowUse) []windowRow {
	hm := func(u fairslot.WindowUse) (string, string) { return u.Start.Format("15:04"), u.End.Format("15:04") }
	booked := map[string]fairslot.WindowUse{}
	var rows []windowRow
	for i, u := range uses {
		s, e := hm(u)
		booked[s+"-"+e] = u
		rows = append(rows, windowRow{I: i, From: s, FromEnd: e, Start: s, End: e, Places: strconv.Itoa(u.Capacity), Booked: u.Taken,
			Removable: u.Taken == 0 && u.Referred == 0})
	}
	for i := range newWindowRows {
		rows = append(rows, windowRow{I: len(uses) + i})
	}
	f, ok := r.Context().Value(formKey{}).(*failedForm)
	if !ok || f.action != windowsAction(id) {
		return rows
	}
	// The rows as typed, each with what its window holds now.
	rows = rows[:0]
	for i := range formRows(f.values) {
		get := func(name string) string { return f.values.Get(name + "_" + strconv.Itoa(i)) }
		row := windowRow{I: i, From: get("from"), FromEnd: get("fromend"), Start: get("start"), End: get("end"), Places: get("places"),
			Remove: get("remove") != ""}
		if u, ok := booked[row.From+"-"+row.FromEnd]; ok {
			row.Booked, row.Removable = u.Taken, u.Taken == 0 && u.Referred == 0
		} else if row.From != "" {
			continue // a window that is no longer there
		}
		rows = append(rows, row)
	}
	return rows
}

// formRows is the number of rows the form says it has, within bounds.
func formRows(v url.Values) int {
	n, err := strconv.Atoi(v.Get("rows"))
	if err != nil || n < 0 {
		return 0
	}
	return min(n, fairslot.MaxWindows+newWindowRows)
}

// windowForm reads the form's rows: a removed row is left out (its window
// goes), a blank new row is ignored.
func windowForm(r *http.Request) ([]app.WindowSpec, error) {
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	var out []app.WindowSpec
	for i := range formRows(r.PostForm) {
		get := func(name string) string { return strings.TrimSpace(r.PostForm.Get(name + "_" + strconv.Itoa(i))) }
		w := app.WindowSpec{From: get("from"), FromEnd: get("fromend"), Start: get("start"), End: get("end")}
		places := get("places")
		if get("remove") != "" || (w.From == "" && w.Start == "" && w.End == "" && places == "") {
			continue
		}
		n, err := strconv.Atoi(places)
		if err != nil {
			return nil, fairslot.E(fairslot.Invalid, "error.windows.capacity", "the window %s has 1 to %d places", w.Start, fairslot.MaxWindowPlaces).On("windows")
		}
		w.Capacity = n
		out = append(out, w)
	}
	return out, nil
}

// editWindows saves a session's time windows from its page.
func (p *Pages) editWindows(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ws, err := windowForm(r)
	changed := false
	if err == nil {
		changed, err = p.API.App.EditWindows(r.Context(), a, id, ws)
	}
	if err == nil && !changed {
		return p.sessionChanged(w, r, a, id, "session.windows_same", nil) // say so, not "changed"
	}
	return p.sessionChanged(w, r, a, id, "session.windows", err)
}
