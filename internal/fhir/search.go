package fhir

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/storage"
)

// found is one resource a search returns.
type found struct {
	typ, id string
	res     any
}

// searcher is one resource type's search: the parameters it takes (each
// documented in the CapabilityStatement), the _include values, and how it
// runs. Searches compute the whole match list and page it by _offset: the
// lists are bounded (a session listing at most 500 sessions, a patient's 20
// newest bookings).
type searcher struct {
	params   []searchParam
	includes []string
	run      func(r *http.Request, q url.Values) ([]found, error)
	include  func(r *http.Request, page []found, inc string) ([]found, error)
	// page, when set, runs the search for one page in the database
	// instead of run: for a list without bound (the audit trail).
	page func(r *http.Request, q url.Values, offset, count int) (page []found, total int, err error)
}

type searchParam struct{ name, typ, doc string }

// Paging defaults.
const (
	defaultCount = 20
	maxCount     = 100
)

var common = []string{"_count", "_offset", "_format", "_include"}

func (s *Server) search(w http.ResponseWriter, r *http.Request, typ string, sr searcher) error {
	q := r.URL.Query()
	for k, vs := range q {
		known := slices.Contains(common, k)
		for _, p := range sr.params {
			known = known || p.name == k
		}
		if !known {
			return coded("not-supported", fairslot.Errorf(fairslot.Invalid, "%s search does not support the parameter %q", typ, k))
		}
		if len(vs) > 1 && k != "start" && k != "date" && k != "_include" {
			return coded("not-supported", fairslot.Errorf(fairslot.Invalid, "the parameter %q may be given once", k))
		}
	}
	count, err := intParam(q, "_count", defaultCount, maxCount)
	if err != nil {
		return err
	}
	offset, err := intParam(q, "_offset", 0, 1<<30)
	if err != nil {
		return err
	}
	for _, inc := range q["_include"] {
		if !slices.Contains(sr.includes, inc) {
			return coded("not-supported", fairslot.Errorf(fairslot.Invalid, "_include=%s is not supported on %s", inc, typ))
		}
	}
	var page []found
	var total int
	if sr.page != nil {
		if page, total, err = sr.page(r, q, offset, count); err != nil {
			return err
		}
	} else {
		all, err := sr.run(r, q)
		if err != nil {
			return err
		}
		page, total = all[min(offset, len(all)):min(offset+count, len(all))], len(all)
	}
	base := s.base(r)
	b := Bundle{ResourceType: "Bundle", Type: "searchset", Total: total}
	link := func(rel string, off int) {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("_count", strconv.Itoa(count))
		v.Set("_offset", strconv.Itoa(off))
		b.Link = append(b.Link, BundleLink{Relation: rel, URL: base + "/" + typ + "?" + v.Encode()})
	}
	link("self", offset)
	if offset+count < total {
		link("next", offset+count)
	}
	if offset > 0 {
		link("previous", max(0, offset-count))
	}
	entry := func(f found, mode string) {
		b.Entry = append(b.Entry, BundleEntry{FullURL: base + "/" + f.typ + "/" + f.id, Resource: f.res, Search: &EntrySearch{Mode: mode}})
	}
	for _, f := range page {
		entry(f, "match")
	}
	seen := map[string]bool{}
	for _, inc := range q["_include"] {
		more, err := sr.include(r, page, inc)
		if err != nil {
			return err
		}
		for _, f := range more {
			// An included resource is a read of its own type: a token
			// may not reach through _include what it may not read.
			if err := permit(r, f.typ, 'r'); err != nil {
				return err
			}
			if k := f.typ + "/" + f.id; !seen[k] {
				seen[k] = true
				entry(f, "include")
			}
		}
	}
	return write(w, http.StatusOK, b)
}

func intParam(q url.Values, name string, def, limit int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fairslot.Errorf(fairslot.Invalid, "%s must be a whole number of at least 0", name)
	}
	return min(n, limit), nil
}

// dateRange is the instants a date parameter allows: [from, to); a zero
// end is unbounded.
type dateRange struct{ from, to time.Time }

func (d dateRange) holds(t time.Time) bool {
	return (d.from.IsZero() || !t.Before(d.from)) && (d.to.IsZero() || t.Before(d.to))
}

// dateParam reads a date search parameter's values (ANDed): a prefix (eq,
// ge, gt, le, lt; none is eq) and a date, YYYY-MM-DD in the hospital's
// zone, or a dateTime with its offset (RFC 3339).
func dateParam(name string, vs []string, loc *time.Location) (dateRange, error) {
	var d dateRange
	for _, v := range vs {
		if strings.Contains(v, ",") {
			return d, coded("not-supported", fairslot.Errorf(fairslot.Invalid, "%s: a list of values (OR) is not supported", name))
		}
		prefix := "eq"
		if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' {
			prefix, v = v[:2], v[2:]
		}
		var lo, hi time.Time
		if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
			lo, hi = t, t.AddDate(0, 0, 1)
		} else if t, err := time.Parse(time.RFC3339, v); err == nil {
			lo, hi = t, t.Add(time.Second)
		} else {
			return d, fairslot.Errorf(fairslot.Invalid, "%s must be a date (YYYY-MM-DD) or a dateTime with its offset, with an optional prefix eq, ge, gt, le or lt", name)
		}
		later := func(a, b time.Time) time.Time {
			if a.IsZero() || b.After(a) {
				return b
			}
			return a
		}
		earlier := func(a, b time.Time) time.Time {
			if a.IsZero() || b.Before(a) {
				return b
			}
			return a
		}
		switch prefix {
		case "eq":
			d.from, d.to = later(d.from, lo), earlier(d.to, hi)
		case "ge":
			d.from = later(d.from, lo)
		case "gt":
			d.from = later(d.from, hi)
		case "lt":
			d.to = earlier(d.to, lo)
		case "le":
			d.to = earlier(d.to, hi)
		default:
			return d, coded("not-supported", fairslot.Errorf(fairslot.Invalid, "%s: the prefix %q is not supported (eq, ge, gt, le, lt)", name, prefix))
		}
	}
	return d, nil
}

// refParam reads a reference parameter, "Type/id" or a bare id.
func refParam(q url.Values, name, typ string) (string, bool, error) {
	v := q.Get(name)
	if v == "" {
		return "", false, nil
	}
	id := v
	if t, rest, ok := strings.Cut(v, "/"); ok {
		if t != typ {
			return "", false, coded("not-supported", fairslot.Errorf(fairslot.Invalid, "%s must reference a %s", name, typ))
		}
		id = rest
	}
	return id, true, nil
}

func (s *Server) searches() map[string]searcher {
	loc := s.App.Location
	return map[string]searcher{
		auditType: s.auditSearcher(), // auditevent.go
		"Slot": {
			params: []searchParam{
				{"schedule", "reference", "Schedule/{id}: the windows of one session"},
				{"start", "date", "ge, gt, le, lt or eq a date or dateTime; without schedule, the sessions of those dates (default: today to the booking horizon)"},
				{"status", "token", "free, busy or busy-unavailable"},
			},
			includes: []string{"Slot:schedule"},
			run:      s.searchSlots,
			include: func(r *http.Request, page []found, inc string) ([]found, error) {
				var out []found
				for _, f := range page {
					sid, _, _ := strings.Cut(f.id, "-")
					res, err := s.readers()["Schedule"](r.Context(), sid)
					if err != nil {
						return nil, err
					}
					out = append(out, found{"Schedule", sid, res})
				}
				return out, nil
			},
		},
		"Schedule": {
			params: []searchParam{
				{"actor", "reference", "Practitioner/{id}: a doctor's sessions from today to the booking horizon"},
			},
			includes: []string{"Schedule:actor"},
			run: func(r *http.Request, q url.Values) ([]found, error) {
				id, ok, err := refParam(q, "actor", "Practitioner")
				if err != nil {
					return nil, err
				}
				if !ok {
					return nil, coded("too-costly", fairslot.Errorf(fairslot.Invalid, "Schedule search needs actor=Practitioner/{id}"))
				}
				doc, err := strconv.ParseInt(id, 10, 64)
				if err != nil {
					return nil, nil // no such practitioner: no match
				}
				vs, err := s.App.Sessions(r.Context(), storage.SessionFilter{DoctorID: doc})
				if err != nil {
					return nil, err
				}
				depts := map[int64]fairslot.Department{}
				var out []found
				for _, v := range vs {
					dept, err := s.cachedDepartment(r.Context(), v.DepartmentID, depts)
					if err != nil {
						return nil, err
					}
					out = append(out, found{"Schedule", fmt.Sprint(v.ID), schedule(v, dept, loc)})
				}
				return out, nil
			},
			include: func(r *http.Request, page []found, inc string) ([]found, error) {
				var out []found
				for _, f := range page {
					id := strings.TrimPrefix(f.res.(Schedule).Actor[0].Reference, "Practitioner/")
					res, err := s.readers()["Practitioner"](r.Context(), id)
					if err != nil {
						return nil, err
					}
					out = append(out, found{"Practitioner", id, res})
				}
				return out, nil
			},
		},
		"Appointment": {
			params: []searchParam{
				{"patient", "reference", "Patient/{id} (required): the patient's 20 newest bookings"},
				{"date", "date", "the appointment's start: ge, gt, le, lt or eq a date or dateTime"},
				{"status", "token", "an Appointment status code"},
			},
			includes: []string{"Appointment:patient"},
			run:      s.searchAppointments,
			include: func(r *http.Request, page []found, inc string) ([]found, error) {
				var out []found
				for _, f := range page {
					id := strings.TrimPrefix(f.res.(Appointment).Participant[0].Actor.Reference, "Patient/")
					res, err := s.patient(r, id)
					if err != nil {
						return nil, err
					}
					out = append(out, found{"Patient", id, res})
				}
				return out, nil
			},
		},
		"Practitioner": {
			params: []searchParam{{"name", "string", "the doctor's name, or a word of it, starts with the value (case-insensitive)"}},
			run: func(r *http.Request, q url.Values) ([]found, error) {
				name := q.Get("name")
				ctx := r.Context()
				var out []found
				err := s.view(ctx, func(tx storage.Tx) error {
					depts, err := tx.Departments(ctx)
					if err != nil {
						return err
					}
					for _, d := range depts {
						docs, err := tx.Doctors(ctx, d.ID)
						if err != nil {
							return err
						}
						for _, doc := range docs {
							if name == "" || nameMatches(doc.Name, name) {
								out = append(out, found{"Practitioner", fmt.Sprint(doc.ID), practitioner(doc)})
							}
						}
					}
					return nil
				})
				slices.SortFunc(out, func(a, b found) int { return cmpID(a.id, b.id) })
				return out, err
			},
		},
		"Location": {
			run: func(r *http.Request, q url.Values) ([]found, error) {
				var out []found
				err := s.view(r.Context(), func(tx storage.Tx) error {
					cs, err := tx.Campuses(r.Context())
					for _, c := range cs {
						out = append(out, found{"Location", campusID(c.ID), campusLocation(c)})
					}
					return err
				})
				return out, err
			},
		},
		"HealthcareService": {
			run: func(r *http.Request, q url.Values) ([]found, error) {
				var out []found
				err := s.view(r.Context(), func(tx storage.Tx) error {
					h, err := s.hospital(r.Context(), tx)
					if err != nil {
						return err
					}
					ds, err := tx.Departments(r.Context())
					for _, d := range ds {
						out = append(out, found{"HealthcareService", fmt.Sprint(d.ID), healthcareService(d, h.ID)})
					}
					return err
				})
				return out, err
			},
		},
	}
}

func cmpID(a, b string) int {
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	return int(x - y)
}

func (s *Server) cachedDepartment(ctx context.Context, id int64, cache map[int64]fairslot.Department) (fairslot.Department, error) {
	if d, ok := cache[id]; ok {
		return d, nil
	}
	d, err := s.department(ctx, id)
	cache[id] = d
	return d, err
}

var slotStatuses = []string{"free", "busy", "busy-unavailable", "busy-tentative", "entered-in-error"}

func (s *Server) searchSlots(r *http.Request, q url.Values) ([]found, error) {
	ctx, loc := r.Context(), s.App.Location
	when, err := dateParam("start", q["start"], loc)
	if err != nil {
		return nil, err
	}
	status := q.Get("status")
	if status != "" && !slices.Contains(slotStatuses, status) {
		return nil, fairslot.Errorf(fairslot.Invalid, "unknown Slot status %q", status)
	}
	var sessions []app.SessionView
	if id, ok, err := refParam(q, "schedule", "Schedule"); err != nil {
		return nil, err
	} else if ok {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, nil
		}
		v, err := s.App.Session(ctx, n)
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		sessions = []app.SessionView{v}
	} else {
		var f storage.SessionFilter
		if !when.from.IsZero() {
			f.From = when.from.In(loc).Format(time.DateOnly)
		}
		if !when.to.IsZero() {
			f.To = when.to.Add(-time.Nanosecond).In(loc).Format(time.DateOnly)
		}
		if f.From != "" && f.To != "" && f.To < f.From {
			return nil, nil
		}
		if f.From == "" && f.To != "" {
			f.From = s.now().Format(time.DateOnly) // from today, as the JSON API
		}
		if sessions, err = s.App.Sessions(ctx, f); err != nil {
			if fairslot.ErrorKind(err) == fairslot.Invalid {
				return nil, coded("too-costly", err)
			}
			return nil, err
		}
	}
	now := s.now()
	depts := map[int64]fairslot.Department{}
	var out []found
	for _, v := range sessions {
		dept, err := s.cachedDepartment(ctx, v.DepartmentID, depts)
		if err != nil {
			return nil, err
		}
		for i, w := range v.Windows {
			if !when.holds(w.Start) {
				continue
			}
			sl := slot(v, dept, i+1, w, now, loc)
			if status != "" && sl.Status != status {
				continue
			}
			out = append(out, found{"Slot", sl.ID, sl})
		}
	}
	return out, nil
}

func (s *Server) searchAppointments(r *http.Request, q url.Values) ([]found, error) {
	ctx := r.Context()
	id, ok, err := refParam(q, "patient", "Patient")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, coded("too-costly", fairslot.Errorf(fairslot.Invalid, "Appointment search needs patient=Patient/{id}"))
	}
	when, err := dateParam("date", q["date"], s.App.Location)
	if err != nil {
		return nil, err
	}
	var statuses []fairslot.Status
	filter := q.Get("status") != ""
	if filter {
		if statuses, _, err = fromFHIR(q.Get("status")); err != nil {
			return nil, err
		}
	}
	pid, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil, nil
	}
	// The patient is read as the facade reads it (a look-up by staff who
	// may), so a search cannot reach what a read may not.
	if _, err := s.App.MaskedPatient(ctx, s.actor(r), pid); err != nil {
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			return nil, nil
		}
		return nil, err
	}
	var out []found
	err = s.view(ctx, func(tx storage.Tx) error {
		bs, err := tx.PatientBookings(ctx, pid)
		if err != nil {
			return err
		}
		cache := map[int64]sessionInfo{}
		for _, b := range bs {
			if filter && !slices.Contains(statuses, b.Status) {
				continue
			}
			a, err := s.appointment(ctx, tx, b, cache)
			if err != nil {
				return err
			}
			if start, _ := time.Parse(time.RFC3339, a.Start); !when.holds(start) {
				continue
			}
			out = append(out, found{"Appointment", a.ID, a})
		}
		return nil
	})
	return out, err
}
