package web_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

var sessionLink = regexp.MustCompile(`<a href="/staff/admin/sessions/(\d+)">`)

// TestAdminFormsByRole: every staff role reads the admin pages, only the
// admin sees their forms, and the server refuses the others' posts all the
// same (issue 14 item 6).
func TestAdminFormsByRole(t *testing.T) {
	e := newEnv(t)
	pages := map[string]string{ // page: the form only an admin may see there
		"/staff/admin/sessions?department=2": `<form method="post" action="/staff/admin/sessions?`,
		"/staff/admin/doctors":               `<form method="post" action="/staff/admin/doctors">`,
		"/staff/admin/doctors/4":             `<form method="post" action="/staff/admin/doctors/4">`,
		"/staff/admin/rules":                 `<form method="post" action="/staff/admin/rules">`,
		"/staff/admin/sessions/1":            `href="/staff/admin/sessions/1/cancel"`,
	}
	posts := []struct {
		path string
		form url.Values
	}{
		{"/staff/admin/doctors", url.Values{"department_id": {"2"}, "name": {"Dr Intruder"}, "title": {"expert"}}},
		{"/staff/admin/doctors/4", url.Values{"name": {"Renamed"}, "title": {"general"}}},
		{"/staff/admin/doctors/4", url.Values{"retire": {"1"}}},
		{"/staff/admin/sessions", url.Values{"doctor_id": {"4"}, "date": {"2026-12-20"}, "period": {"morning"}, "start": {"08:00"},
			"end": {"09:00"}, "room": {"R"}, "fee": {"1"}, "per_window": {"1"}}},
		{"/staff/admin/rules", url.Values{"department": {"PED"}, "mode": {"first_come"}, "reserved_priority": {"9"}}},
		{"/staff/admin/rules/clear", url.Values{"department": {"PED"}}},
		{"/staff/admin/sessions/44/places", url.Values{"places": {"5"}}},
		{"/staff/admin/sessions/44", url.Values{"room": {"R"}, "fee": {"0"}}},
		{"/staff/admin/sessions/44/remove-places", url.Values{"window": {"14:00"}, "places": {"1"}}},
	}
	for _, user := range []string{"desk", "nurse", "doctor", "security", "admin"} {
		b := e.staffBrowser(t, e.internal, user)
		for page, form := range pages {
			status, body := b.get(page)
			if status != 200 {
				t.Errorf("%s reading %s: %d", user, page, status)
				continue
			}
			if got, want := strings.Contains(body, form), user == "admin"; got != want {
				t.Errorf("%s on %s: form %s shown %v, want %v", user, page, form, got, want)
			}
		}
		if user == "admin" {
			continue
		}
		for _, p := range posts {
			// Refused for the role (not for a missing form token).
			if status, _, body := b.post(p.path+"?lang=en", maps.Clone(p.form)); status != http.StatusForbidden || !strings.Contains(body, "Your role may not do this.") {
				t.Errorf("%s posting to %s: %d, want 403 for the role\n%s", user, p.path, status, body)
			}
		}
	}
	d, err := e.svc.Doctor(ctx, 4)
	if err != nil || d.Name != "王主任 Prof Wang" || d.Retired {
		t.Errorf("doctor 4 after the refused posts = %+v, %v", d, err)
	}
	if p, _ := e.svc.Rules(ctx); p.For(0, "PED").ReservedPriority != 0 {
		t.Errorf("a refused rule was stored: %+v", p.For(0, "PED"))
	}
	// A doctor adds extra slots to their own sessions only: the form shows
	// on those alone (session 1 is the demo doctor's, 44 another's).
	doc := e.staffBrowser(t, e.internal, "doctor")
	for path, want := range map[string]bool{"/staff/admin/sessions/1": true, "/staff/admin/sessions/44": false} {
		if _, body := doc.get(path); strings.Contains(body, "/extra-slot") != want {
			t.Errorf("the doctor on %s: extra-slot form shown %v, want %v", path, !want, want)
		}
	}
	// A kiosk is sent back to its start, and its posts refused.
	k := e.browser(t, e.internal)
	k.get("/staff/login")
	k.post("/staff/login", url.Values{"username": {"kiosk"}, "password": {demo.Password}})
	if status, _ := k.get("/staff/admin/rules"); status != http.StatusSeeOther {
		t.Errorf("a kiosk reading the rules: %d, want a redirect", status)
	}
	if status, _, _ := k.post(posts[0].path, maps.Clone(posts[0].form)); status != http.StatusForbidden {
		t.Errorf("a kiosk adding a doctor: %d", status)
	}
}

// TestAdminSessionsPagedAndFiltered walks the demo's sessions page by page
// and by campus, department, doctor and dates: every session once, none
// outside the filter, and values that do not parse ignored.
func TestAdminSessionsPagedAndFiltered(t *testing.T) {
	e := newEnv(t)
	b := e.staffBrowser(t, e.internal, "admin")
	all, err := e.svc.Sessions(ctx, storage.SessionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	walk := func(query string) map[int64]bool {
		t.Helper()
		seen := map[int64]bool{}
		next := "/staff/admin/sessions?" + query
		for pages := 0; next != ""; pages++ {
			if pages > 100 {
				t.Fatal("the pages never end")
			}
			status, body := b.get(next)
			if status != 200 {
				t.Fatalf("%s: %d", next, status)
			}
			rows := sessionLink.FindAllStringSubmatch(body, -1)
			if len(rows) > 25 {
				t.Errorf("%s: %d rows, want at most 25", next, len(rows))
			}
			for _, m := range rows {
				var id int64
				fmt.Sscan(m[1], &id)
				if seen[id] {
					t.Errorf("%s: session %d shown again", next, id)
				}
				seen[id] = true
			}
			next = ""
			if m := regexp.MustCompile(`<a href="([^"]+)" rel="next">`).FindStringSubmatch(body); m != nil {
				next = strings.ReplaceAll(m[1], "&amp;", "&")
			}
		}
		return seen
	}
	if got := walk(""); len(got) != len(all) {
		t.Errorf("paging through every session saw %d, want %d", len(got), len(all))
	}
	campusOf := map[int64]int64{}
	ds, _ := e.svc.Departments(ctx)
	for _, d := range ds {
		campusOf[d.ID] = d.CampusID
	}
	tests := []struct {
		query string
		keep  func(s fairslot.Session) bool
	}{
		{"campus=2", func(s fairslot.Session) bool { return campusOf[s.DepartmentID] == 2 }},
		{"department=3", func(s fairslot.Session) bool { return s.DepartmentID == 3 }},
		{"department=2&doctor=5", func(s fairslot.Session) bool { return s.DoctorID == 5 }},
		{"from=2026-12-12&to=2026-12-13", func(s fairslot.Session) bool { return s.Date >= "2026-12-12" && s.Date <= "2026-12-13" }},
		{"campus=abc&page=-3&from=12/12/2026", func(fairslot.Session) bool { return true }},
	}
	for _, tt := range tests {
		got := walk(tt.query)
		want := 0
		for _, s := range all {
			if tt.keep(s.Session) {
				want++
				if !got[s.ID] {
					t.Errorf("%s: session %d missing", tt.query, s.ID)
				}
			} else if got[s.ID] {
				t.Errorf("%s: session %d (department %d, %s) shown", tt.query, s.ID, s.DepartmentID, s.Date)
			}
		}
		if want == 0 {
			t.Errorf("%s: the filter keeps nothing; the test proves nothing", tt.query)
		}
	}
	// Places read "n of m left", durations in words.
	_, body := b.get("/staff/admin/sessions/1?lang=en")
	if !regexp.MustCompile(`\d+ of \d+ left`).MatchString(body) {
		t.Errorf("the session page does not say how many places are left:\n%s", body)
	}
	if _, body := b.get("/staff/admin/rules?lang=en"); !strings.Contains(body, "pays within 30 minutes") || strings.Contains(body, "30m0s") {
		t.Errorf("the rules page does not write durations in words:\n%s", body)
	}
}

// TestAdminEditsConfirmAndKeepInput: each change lands on a page that says
// what it did; a refused one shows the form again as typed, the reason at
// its field; a confirmation is never text from the address.
func TestAdminEditsConfirmAndKeepInput(t *testing.T) {
	e := newEnv(t)
	e.svc.Release = release.Default()
	b := e.staffBrowser(t, e.internal, "admin")
	b.get("/staff/admin/doctors")

	status, loc, _ := b.post("/staff/admin/doctors", url.Values{"department_id": {"2"}, "name": {"Dr New"}, "title": {"general"}})
	if status != http.StatusSeeOther || !strings.HasPrefix(loc, "/staff/admin/doctors/") {
		t.Fatalf("adding a doctor: %d %s", status, loc)
	}
	if _, body := b.get(loc + "&lang=en"); !strings.Contains(body, `<p class="done" role="status">Added Dr New.`) {
		t.Errorf("adding a doctor is not confirmed:\n%s", body)
	}
	id := strings.TrimPrefix(strings.SplitN(loc, "?", 2)[0], "/staff/admin/doctors/")

	tests := []struct {
		name, path string
		form       url.Values
		field      string
		kept       string
	}{
		{"a doctor without a name", "/staff/admin/doctors/" + id, url.Values{"name": {"  "}, "title": {"expert"}}, "name", `<option value="expert" selected>`},
		{"a session without a room", "/staff/admin/sessions?lang=en", url.Values{"doctor_id": {id}, "date": {"2026-12-20"}, "period": {"afternoon"},
			"start": {"13:00"}, "end": {"15:00"}, "room": {""}, "fee": {"33.50"}, "per_window": {"4"}}, "room", `value="33.50"`},
		{"a fee that is no amount", "/staff/admin/sessions", url.Values{"doctor_id": {id}, "date": {"2026-12-20"}, "period": {"afternoon"},
			"start": {"13:00"}, "end": {"15:00"}, "room": {"R9"}, "fee": {"NaN"}, "per_window": {"4"}}, "fee", `value="R9"`},
		{"a draw without a window", "/staff/admin/rules", url.Values{"department": {"CARD"}, "mode": {"draw"}, "window": {"0"}, "reserved_priority": {"3"}}, "window", `value="3"`},
		{"a quota that is no number", "/staff/admin/rules", url.Values{"doctor_id": {id}, "mode": {"first_come"}, "reserved_referral": {"many"}}, "reserved_referral", `value="many"`},
		{"no places", "/staff/admin/sessions/44/places", url.Values{"window": {"14:00"}, "places": {"0"}}, "places", `<option selected>14:00</option>`},
		{"a window the session has not", "/staff/admin/sessions/44/places", url.Values{"window": {"14:10"}, "places": {"7"}}, "window", `value="7"`},
		{"a jitter over an hour", "/staff/admin/rules", url.Values{"department": {"CARD"}, "mode": {"first_come"}, "jitter": {"90"}}, "jitter", `<option value="CARD" selected>`},
	}
	for _, tt := range tests {
		status, _, body := b.post(tt.path, tt.form)
		if status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", tt.name, status)
		}
		if want := `aria-invalid="true" aria-describedby="` + tt.field + `-error"`; !strings.Contains(body, want) || !strings.Contains(body, `id="`+tt.field+`-error"`) {
			t.Errorf("%s: no error at %s\n%s", tt.name, tt.field, body)
		}
		if !strings.Contains(body, tt.kept) {
			t.Errorf("%s: the input %s was not kept", tt.name, tt.kept)
		}
	}
	if p, _ := e.svc.Rules(ctx); len(p.Rules) != 1 {
		t.Errorf("refused rules were stored: %+v", p.Rules)
	}

	// A rule saved for a department, then cleared; a doctor retired: each
	// confirmed by name, each in the audit log with before and after.
	for _, step := range []struct {
		path    string
		form    url.Values
		confirm string
	}{
		{"/staff/admin/rules", url.Values{"department": {"CARD"}, "mode": {"draw"}, "window": {"30"}, "reserved_priority": {"2"}}, "Saved the release rule of 心内科 Cardiology"},
		{"/staff/admin/rules/clear", url.Values{"department": {"CARD"}}, "心内科 Cardiology follows the configured rule again"},
		{"/staff/admin/doctors/" + id, url.Values{"retire": {"1"}}, "Dr New has retired"},
		{"/staff/admin/sessions/44/places", url.Values{"window": {"14:00"}, "places": {"2"}}, "Added places to Thu 10 Dec 2026 13:30–17:30 王主任 Prof Wang"},
	} {
		status, loc, body := b.post(step.path, step.form)
		if status != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", step.path, status, body)
		}
		if _, body := b.get(loc + "&lang=en"); !strings.Contains(body, step.confirm) {
			t.Errorf("%s is not confirmed with %q:\n%s", step.path, step.confirm, body)
		}
	}
	status, _, body := b.post("/staff/admin/sessions?department=2&lang=en", url.Values{"doctor_id": {id}, "date": {"2026-12-20"}, "period": {"afternoon"},
		"start": {"13:00"}, "end": {"15:00"}, "room": {"R9"}, "fee": {"1"}, "per_window": {"4"}})
	if status != http.StatusConflict || !strings.Contains(body, "Dr New has retired: they get no new sessions") {
		t.Errorf("a session for a retired doctor: %d\n%s", status, body)
	}

	// Confirmations come from known keys and ids only.
	for _, q := range []string{"done=doctor.added&id=999", "done=%3Cscript%3E&id=4", "done=admin.title&id=4", "done=rule.set&department=NOPE"} {
		if _, body := b.get("/staff/admin/doctors/4?" + q); strings.Contains(body, `class="done"`) {
			t.Errorf("?%s shows a confirmation", q)
		}
	}
}

// TestAdminScopedToCampus: an admin limited to one campus sees the forms
// of its own campus's doctors, sessions and rules only, and its posts about
// another campus's are refused with the reason in its language.
func TestAdminScopedToCampus(t *testing.T) {
	e := newEnv(t)
	theirs, err := e.svc.Doctor(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := e.svc.Departments(ctx)
	var home, other fairslot.Department // doctor 4's, and one at the other campus
	for _, d := range ds {
		if d.ID == theirs.DepartmentID {
			home = d
		}
	}
	for _, d := range ds {
		if d.CampusID != home.CampusID {
			other = d
			break
		}
	}
	if home.ID == 0 || other.ID == 0 {
		t.Fatalf("the demo has no department at a second campus: %+v", ds)
	}
	mine, err := e.svc.Doctors(ctx, other.ID)
	if err != nil || len(mine) == 0 {
		t.Fatalf("doctors of %s: %v, %v", other.Code, mine, err)
	}
	sessionOf := func(d fairslot.Department) int64 {
		ss, err := e.svc.Sessions(ctx, storage.SessionFilter{DepartmentID: d.ID})
		if err != nil || len(ss) == 0 {
			t.Fatalf("sessions of %s: %v", d.Code, err)
		}
		return ss[len(ss)-1].ID
	}
	if _, err := e.svc.SetStaffScope(ctx, app.System, "admin", func(s *app.Scope) { s.CampusID = other.CampusID }); err != nil {
		t.Fatal(err)
	}
	b := e.staffBrowser(t, e.internal, "admin")
	for _, tt := range []struct {
		page, form string
		want       bool
	}{
		{fmt.Sprintf("/staff/admin/doctors/%d", theirs.ID), fmt.Sprintf(`<form method="post" action="/staff/admin/doctors/%d">`, theirs.ID), false},
		{fmt.Sprintf("/staff/admin/doctors/%d", mine[0].ID), fmt.Sprintf(`<form method="post" action="/staff/admin/doctors/%d">`, mine[0].ID), true},
		{fmt.Sprintf("/staff/admin/sessions?department=%d", home.ID), `<form method="post" action="/staff/admin/sessions?`, false},
		{fmt.Sprintf("/staff/admin/sessions?department=%d", other.ID), `<form method="post" action="/staff/admin/sessions?`, true},
		{fmt.Sprintf("/staff/admin/sessions?department=%d", home.ID), `/cancel"`, false},
		{fmt.Sprintf("/staff/admin/sessions/%d", sessionOf(home)), `/places"`, false},
		{fmt.Sprintf("/staff/admin/sessions/%d", sessionOf(home)), `/cancel"`, false},
		{fmt.Sprintf("/staff/admin/sessions/%d", sessionOf(other)), `/places"`, true},
		// The new doctor's and the new rule's departments: the login's own.
		{"/staff/admin/doctors", fmt.Sprintf(`new-doctor.*<option value="%d"`, home.ID), false},
		{"/staff/admin/doctors", fmt.Sprintf(`new-doctor.*<option value="%d"`, other.ID), true},
		{"/staff/admin/rules", fmt.Sprintf(`new-rule.*<option value="%s"`, home.Code), false},
		{"/staff/admin/rules", fmt.Sprintf(`new-rule.*<option value="%s"`, other.Code), true},
	} {
		status, body := b.get(tt.page)
		if status != 200 {
			t.Errorf("reading %s: %d", tt.page, status)
			continue
		}
		if before, after, ok := strings.Cut(tt.form, ".*"); ok { // the second only after the first
			_, body, _ = strings.Cut(body, before)
			tt.form = after
		}
		if got := strings.Contains(body, tt.form); got != tt.want {
			t.Errorf("%s: %s shown %v, want %v", tt.page, tt.form, got, tt.want)
		}
	}
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/staff/admin/doctors", url.Values{"department_id": {fmt.Sprint(home.ID)}, "name": {"Dr Intruder"}, "title": {"expert"}}},
		{fmt.Sprintf("/staff/admin/doctors/%d", theirs.ID), url.Values{"name": {"Renamed"}, "title": {"general"}}},
		{fmt.Sprintf("/staff/admin/doctors/%d", theirs.ID), url.Values{"retire": {"1"}}},
		{"/staff/admin/sessions", url.Values{"doctor_id": {fmt.Sprint(theirs.ID)}, "date": {"2026-12-20"}, "period": {"morning"}, "start": {"08:00"},
			"end": {"09:00"}, "room": {"R"}, "fee": {"1"}, "per_window": {"1"}}},
		{"/staff/admin/rules", url.Values{"department": {home.Code}, "mode": {"first_come"}, "reserved_priority": {"9"}}},
		{"/staff/admin/rules", url.Values{"doctor_id": {fmt.Sprint(theirs.ID)}, "mode": {"first_come"}, "reserved_priority": {"9"}}},
		{"/staff/admin/rules/clear", url.Values{"department": {home.Code}}},
		{fmt.Sprintf("/staff/admin/sessions/%d/places", sessionOf(home)), url.Values{"places": {"5"}}},
		{fmt.Sprintf("/staff/admin/sessions/%d", sessionOf(home)), url.Values{"room": {"R"}, "fee": {"0"}}},
	} {
		if status, _, body := b.post(p.path+"?lang=en", maps.Clone(p.form)); status != http.StatusForbidden || !strings.Contains(body, "This login works at another campus") {
			t.Errorf("posting to %s: %d, want 403 for the campus\n%s", p.path, status, body)
		}
	}
	if d, _ := e.svc.Doctor(ctx, theirs.ID); d != theirs {
		t.Errorf("doctor %d after the refused posts = %+v", theirs.ID, d)
	}
	if p, _ := e.svc.Rules(ctx); p.For(theirs.ID, home.Code).ReservedPriority != 0 {
		t.Errorf("a refused rule was stored: %+v", p.For(theirs.ID, home.Code))
	}
}

// TestAdminSessionEdits: on a session's page the admin changes its room
// and fee and lowers a window's capacity; each is confirmed in the page's
// language, and a refusal shows beside its field with the input kept —
// removing more places than are free among them.
func TestAdminSessionEdits(t *testing.T) {
	e := newEnv(t)
	b := e.staffBrowser(t, e.internal, "admin")
	const page = "/staff/admin/sessions/44"
	b.get(page)
	capacity := func() int {
		t.Helper()
		v, err := e.svc.Session(ctx, 44)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range v.Windows {
			if w.Start.In(e.svc.Location).Format("15:04") == "14:00" {
				return w.Capacity
			}
		}
		t.Fatal("session 44 has no 14:00 window")
		return 0
	}
	before := capacity()
	for _, tt := range []struct {
		name, path string
		form       url.Values
		status     int
		field      string
		kept       string
	}{
		{"a fee that is no amount", page, url.Values{"room": {"R 12"}, "fee": {"abc"}}, http.StatusBadRequest, "fee", `value="R 12"`},
		{"no room", page, url.Values{"room": {" "}, "fee": {"12.50"}}, http.StatusBadRequest, "room", `value="12.50"`},
		{"no places", page + "/remove-places", url.Values{"window": {"14:00"}, "places": {"0"}}, http.StatusBadRequest, "places", `<option selected>14:00</option>`},
		{"more places than the window has", page + "/remove-places?lang=en", url.Values{"window": {"14:00"}, "places": {fmt.Sprint(before + 1)}},
			http.StatusConflict, "places", "Fewer places are free in that time window"},
	} {
		status, _, body := b.post(tt.path, tt.form)
		if status != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, status, tt.status)
		}
		if want := `aria-invalid="true" aria-describedby="` + tt.field + `-error"`; !strings.Contains(body, want) {
			t.Errorf("%s: no error at %s\n%s", tt.name, tt.field, body)
		}
		if !strings.Contains(body, tt.kept) {
			t.Errorf("%s: %s not shown", tt.name, tt.kept)
		}
	}
	if got := capacity(); got != before {
		t.Errorf("capacity after refused removals = %d, want %d", got, before)
	}
	for _, step := range []struct {
		path    string
		form    url.Values
		lang    string
		confirm string
	}{
		{page, url.Values{"room": {"R 12"}, "fee": {"12.50"}}, "en", "Saved the room and fee of Thu 10 Dec 2026 13:30–17:30 王主任 Prof Wang"},
		{page + "/remove-places", url.Values{"window": {"14:00"}, "places": {"1"}}, "vi", "Đã bớt chỗ của buổi"},
	} {
		status, loc, body := b.post(step.path, step.form)
		if status != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", step.path, status, body)
		}
		if _, body := b.get(loc + "&lang=" + step.lang); !strings.Contains(body, step.confirm) {
			t.Errorf("%s is not confirmed with %q:\n%s", step.path, step.confirm, body)
		}
	}
	if v, _ := e.svc.Session(ctx, 44); v.Room != "R 12" || v.FeeCents != 1250 {
		t.Errorf("session 44 after the edit: room %q fee %d", v.Room, v.FeeCents)
	}
	if got := capacity(); got != before-1 {
		t.Errorf("capacity after removing one = %d, want %d", got, before-1)
	}
}

// TestAdminSites: the overview adds and changes campuses and departments,
// confirmed by name, refusals beside their field with the input kept; an
// admin limited to a campus sees the forms of that campus only and its
// other posts are refused.
func TestAdminSites(t *testing.T) {
	e := newEnv(t)
	b := e.staffBrowser(t, e.internal, "admin")
	b.get("/staff/admin")
	cs, _ := e.svc.Campuses(ctx)
	ds, _ := e.svc.Departments(ctx)
	east, west := cs[0], cs[1]
	var derm fairslot.Department // at the west campus
	for _, d := range ds {
		if d.CampusID == west.ID {
			derm = d
		}
	}
	steps := []struct {
		path    string
		form    url.Values
		confirm string
	}{
		{"/staff/admin/campuses", url.Values{"name": {"北院区 North Campus"}}, "Added the campus 北院区 North Campus."},
		{fmt.Sprintf("/staff/admin/campuses/%d", west.ID), url.Values{"name": {"西院区 West"}}, "Saved the campus 西院区 West."},
		{"/staff/admin/departments", url.Values{"campus_id": {fmt.Sprint(west.ID)}, "code": {"eye"}, "name": {"眼科 Ophthalmology"}}, "Added the department 眼科 Ophthalmology."},
		{fmt.Sprintf("/staff/admin/departments/%d", derm.ID), url.Values{"campus_id": {fmt.Sprint(west.ID)}, "code": {"SKIN"}, "name": {"皮肤科 Skin"}}, "Saved the department 皮肤科 Skin."},
	}
	for _, step := range steps {
		status, loc, body := b.post(step.path, step.form)
		if status != http.StatusSeeOther {
			t.Fatalf("%s: %d\n%s", step.path, status, body)
		}
		if _, body := b.get(loc + "&lang=en"); !strings.Contains(body, step.confirm) {
			t.Errorf("%s is not confirmed with %q", step.path, step.confirm)
		}
	}
	if d, _ := e.svc.Department(ctx, derm.ID); d.Code != "SKIN" || d.Name != "皮肤科 Skin" {
		t.Errorf("department after the edit: %+v", d)
	}
	for _, tt := range []struct {
		name, path string
		form       url.Values
		status     int
		field      string
		kept       string
	}{
		{"a code another has", "/staff/admin/departments", url.Values{"campus_id": {fmt.Sprint(east.ID)}, "code": {"PED"}, "name": {"Kids again"}},
			http.StatusConflict, "code", `value="Kids again"`},
		{"a code with a space", fmt.Sprintf("/staff/admin/departments/%d", derm.ID), url.Values{"campus_id": {fmt.Sprint(west.ID)}, "code": {"S K"}, "name": {"Skin 2"}},
			http.StatusBadRequest, "code", `value="Skin 2"`},
		{"a campus without a name", fmt.Sprintf("/staff/admin/campuses/%d", west.ID), url.Values{"name": {" "}}, http.StatusBadRequest, "name", "<details open>"},
	} {
		status, _, body := b.post(tt.path, tt.form)
		if status != tt.status {
			t.Errorf("%s: %d, want %d", tt.name, status, tt.status)
		}
		if want := `aria-invalid="true" aria-describedby="` + tt.field + `-error"`; !strings.Contains(body, want) {
			t.Errorf("%s: no error at %s\n%s", tt.name, tt.field, body)
		}
		if !strings.Contains(body, tt.kept) {
			t.Errorf("%s: %s not shown", tt.name, tt.kept)
		}
	}

	if _, err := e.svc.SetStaffScope(ctx, app.System, "admin", func(s *app.Scope) { s.CampusID = west.ID }); err != nil {
		t.Fatal(err)
	}
	_, body := b.get("/staff/admin")
	for form, want := range map[string]bool{
		`action="/staff/admin/campuses"`:                              false,
		fmt.Sprintf(`action="/staff/admin/campuses/%d"`, east.ID):     false,
		fmt.Sprintf(`action="/staff/admin/campuses/%d"`, west.ID):     true,
		fmt.Sprintf(`action="/staff/admin/departments/%d"`, ds[0].ID): ds[0].CampusID == west.ID,
		fmt.Sprintf(`action="/staff/admin/departments/%d"`, derm.ID):  true,
		`action="/staff/admin/departments"`:                           true,
		fmt.Sprintf(`<option value="%d"`, east.ID):                    false, // no department moves to or is added at the east
	} {
		if got := strings.Contains(body, form); got != want {
			t.Errorf("the campus admin's overview: %s shown %v, want %v", form, got, want)
		}
	}
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{"/staff/admin/campuses", url.Values{"name": {"Mine"}}},
		{fmt.Sprintf("/staff/admin/campuses/%d", east.ID), url.Values{"name": {"Mine"}}},
		{"/staff/admin/departments", url.Values{"campus_id": {fmt.Sprint(east.ID)}, "code": {"MINE"}, "name": {"Mine"}}},
		{fmt.Sprintf("/staff/admin/departments/%d", derm.ID), url.Values{"campus_id": {fmt.Sprint(east.ID)}, "code": {"SKIN"}, "name": {"Moved"}}},
	} {
		if status, _, body := b.post(p.path+"?lang=en", maps.Clone(p.form)); status != http.StatusForbidden || !strings.Contains(body, "This login works at another campus") {
			t.Errorf("the campus admin posting to %s: %d, want 403", p.path, status)
		}
	}
	if d, _ := e.svc.Department(ctx, derm.ID); d.CampusID != west.ID {
		t.Errorf("a refused move moved the department: %+v", d)
	}
}

// TestConsoleLinksByRole: the console links to the staff screens each role
// may use and to no other (a security officer's linked to the desk, the
// kiosk, walk-ins and the admin pages, whose every action it is refused).
func TestConsoleLinksByRole(t *testing.T) {
	e := newEnv(t)
	screens := []string{"/staff/desk", "/kiosk", "/kiosk/walk-in", "/staff/admin", "/board", "/staff/referrals", "/staff/accounts", "/staff/risk"}
	want := map[string][]string{
		"desk":     {"/staff/desk", "/kiosk", "/kiosk/walk-in", "/staff/admin", "/board"},
		"nurse":    {"/staff/desk", "/kiosk", "/staff/admin", "/board", "/staff/referrals"},
		"doctor":   {"/staff/admin", "/board", "/staff/referrals"},
		"security": {"/staff/accounts", "/staff/risk"},
		"admin":    {"/staff/desk", "/kiosk", "/kiosk/walk-in", "/staff/admin", "/board", "/staff/accounts", "/staff/risk"},
	}
	for user, links := range want {
		status, body := e.staffBrowser(t, e.internal, user).get("/staff")
		if status != 200 {
			t.Fatalf("%s's console: %d", user, status)
		}
		for _, s := range screens {
			if got, want := strings.Contains(body, `<a class="button" href="`+s+`">`), slices.Contains(links, s); got != want {
				t.Errorf("%s's console links to %s: %v, want %v", user, s, got, want)
			}
		}
	}
}

// TestFormPagesByRole: a page that is the form of one action is refused to
// a role that may not take it, as the action is (a doctor was shown the
// desk's look-up and the walk-in form, a security officer the kiosk's),
// and the desk's binding form shows only to the roles that may bind.
func TestFormPagesByRole(t *testing.T) {
	e := newEnv(t)
	pages := map[string]fairslot.Action{"/staff/desk": fairslot.ActLookup, "/kiosk": fairslot.ActCheckIn, "/kiosk/walk-in": fairslot.ActWalkIn,
		"/kiosk/pay": fairslot.ActCheckIn, "/kiosk/reprint": fairslot.ActCheckIn}
	roles := map[string]fairslot.Role{"desk": fairslot.Registrar, "nurse": fairslot.Nurse, "doctor": fairslot.DoctorRole,
		"security": fairslot.Security, "admin": fairslot.Admin}
	for user, role := range roles {
		b := e.staffBrowser(t, e.internal, user)
		for page, act := range pages {
			status, body := b.get(page + "?lang=en")
			if want := role.Can(act); want != (status == 200) || !want && (status != http.StatusForbidden || !strings.Contains(body, "Your role may not do this.")) {
				t.Errorf("%s (%s) reading %s: %d, want it shown %v (else 403 for the role)", user, role, page, status, want)
			}
			if page == "/staff/desk" && status == 200 {
				if got, want := strings.Contains(body, `action="/staff/desk/bind"`), role.Can(fairslot.ActBindCheck); got != want {
					t.Errorf("%s's desk page shows the binding form %v, want %v", user, got, want)
				}
			}
		}
	}
}
