package storagetest

import (
	"slices"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// testAdminEdits: a doctor's name, title and retirement change and read
// back; release rules stored per department or doctor read back as the
// latest of each, a cleared one gone, and the table refuses a rule for a
// department and a doctor at once; sessions page and filter by campus.
func testAdminEdits(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 2)
	d := f.doctor
	d.Name, d.Title, d.Retired = "Dr Li Retired", fairslot.General, true
	update(t, s, func(tx storage.Tx) error { return tx.UpdateDoctor(ctx, d) })
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.Doctor(ctx, d.ID)
		if err != nil || got != d {
			t.Errorf("doctor after the edit = %+v, %v; want %+v", got, err, d)
		}
		list, err := tx.Doctors(ctx, f.dept.ID)
		if err != nil || len(list) != 1 || list[0] != d {
			t.Errorf("department's doctors = %+v, %v; want [%+v]", list, err, d)
		}
		return nil
	})
	err := s.Update(ctx, func(tx storage.Tx) error {
		return tx.UpdateDoctor(ctx, fairslot.Doctor{ID: d.ID + 100, Name: "x", Title: fairslot.General})
	})
	wantKind(t, "editing a doctor who does not exist", err, fairslot.NotFound)

	dept := release.Rule{Department: "PED", Mode: fairslot.Draw, Window: fairslot.Duration(30 * time.Minute), Jitter: fairslot.Duration(time.Minute),
		ReservedPriority: 2, ReservedReferral: 1}
	doc := release.Rule{DoctorID: d.ID, Mode: fairslot.FirstCome, ReservedPriority: 4}
	update(t, s, func(tx storage.Tx) error {
		for _, r := range []release.Rule{{Department: "PED", Mode: fairslot.FirstCome}, dept, doc, {Department: "CARD", Mode: fairslot.FirstCome}} {
			if err := tx.PutReleaseRule(ctx, r, base); err != nil {
				return err
			}
		}
		return tx.ClearReleaseRule(ctx, "CARD", 0, base)
	})
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.ReleaseRules(ctx)
		if want := []release.Rule{dept, doc}; err != nil || !slices.Equal(got, want) {
			t.Errorf("stored rules = %+v, %v; want %+v", got, err, want)
		}
		return nil
	})
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutReleaseRule(ctx, release.Rule{Department: "PED", DoctorID: d.ID, Mode: fairslot.FirstCome}, base)
	})
	if err == nil {
		t.Error("a rule for a department and a doctor at once was stored")
	}
	err = s.Update(ctx, func(tx storage.Tx) error {
		return tx.PutReleaseRule(ctx, release.Rule{Department: "PED", Mode: fairslot.FirstCome, ReservedPriority: -1}, base)
	})
	if err == nil {
		t.Error("a negative reserved quota was stored")
	}

	// Paging and the campus filter.
	update(t, s, func(tx storage.Tx) error {
		for _, day := range []string{"2026-12-11", "2026-12-12"} {
			g := *f
			newSession(t, tx, &g, day, 1)
		}
		return nil
	})
	page := func(sf storage.SessionFilter) (ids []int64) {
		t.Helper()
		s.View(ctx, func(tx storage.Tx) error {
			ss, err := tx.Sessions(ctx, sf)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range ss {
				ids = append(ids, x.ID)
			}
			return nil
		})
		return ids
	}
	every := page(storage.SessionFilter{})
	if len(every) != 3 {
		t.Fatalf("all sessions = %v, want 3", every)
	}
	tests := []struct {
		name string
		f    storage.SessionFilter
		want []int64
	}{
		{"first page", storage.SessionFilter{Limit: 2}, every[:2]},
		{"second page", storage.SessionFilter{Limit: 2, Offset: 2}, every[2:]},
		{"past the end", storage.SessionFilter{Limit: 2, Offset: 4}, nil},
		{"the campus", storage.SessionFilter{CampusID: f.dept.CampusID}, every},
		{"another campus", storage.SessionFilter{CampusID: f.dept.CampusID + 1}, nil},
		{"a date range and a page", storage.SessionFilter{From: "2026-12-11", Limit: 1, Offset: 1}, every[2:]},
	}
	for _, tt := range tests {
		if got := page(tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: sessions %v, want %v", tt.name, got, tt.want)
		}
	}
}

// testAdminSessionEdits: a session's room and fee change and read back; a
// window's places are removed only from those nothing refers to, all asked
// for or none, so a window never holds fewer places than it has taken.
func testAdminSessionEdits(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 8) // two windows of four
	ps := newPatients(t, s, 1)
	if err := insert(s, newBooking(f, f.slots[0], ps[0].ID, fairslot.Held), noLimits); err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx storage.Tx) error { return tx.UpdateSession(ctx, f.session.ID, "202", 7000) })
	s.View(ctx, func(tx storage.Tx) error {
		got, err := tx.Session(ctx, f.session.ID)
		if err != nil || got.Room != "202" || got.FeeCents != 7000 {
			t.Errorf("session after the edit = %+v, %v; want room 202, fee 7000", got, err)
		}
		return nil
	})
	wantKind(t, "editing a session that does not exist", s.Update(ctx, func(tx storage.Tx) error {
		return tx.UpdateSession(ctx, f.session.ID+100, "x", 1)
	}), fairslot.NotFound)

	capacities := func() (out []int) {
		t.Helper()
		s.View(ctx, func(tx storage.Tx) error {
			ws, err := tx.Windows(ctx, f.session.ID, base)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range ws {
				out = append(out, w.Capacity)
			}
			return nil
		})
		return out
	}
	first, second := f.slots[0].Start, f.slots[4].Start
	for _, tt := range []struct {
		name   string
		window time.Time
		n      int
		ok     bool
		want   []int
	}{
		{"more than are free (one is held)", first, 4, false, []int{4, 4}},
		{"three of the three free", first, 3, true, []int{1, 4}},
		{"the held place", first, 1, false, []int{1, 4}},
		{"a whole free window", second, 4, true, []int{1}},
		{"a window that is no more", second, 1, false, []int{1}},
	} {
		err := s.Update(ctx, func(tx storage.Tx) error { return tx.RemoveFreeSlots(ctx, f.session.ID, tt.window, tt.n) })
		switch {
		case tt.ok && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case !tt.ok:
			wantKind(t, tt.name, err, fairslot.Conflict)
		}
		if got := capacities(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: capacities %v, want %v", tt.name, got, tt.want)
		}
	}
	s.View(ctx, func(tx storage.Tx) error {
		if _, err := tx.Slot(ctx, f.slots[0].ID); err != nil {
			t.Errorf("the held slot: %v", err)
		}
		return nil
	})
}

// testAdminSites: a campus renamed, a department moved, recoded and
// renamed, read back; a code another department has is refused.
func testAdminSites(t *testing.T, s storage.Store) {
	f := newFixture(t, s, 1)
	var east fairslot.Campus
	var card fairslot.Department
	update(t, s, func(tx storage.Tx) error {
		east = fairslot.Campus{Name: "East"}
		hs, err := tx.Hospitals(ctx)
		if err != nil {
			return err
		}
		east.HospitalID = hs[0].ID
		if err := tx.CreateCampus(ctx, &east); err != nil {
			return err
		}
		card = fairslot.Department{CampusID: east.ID, Code: "CARD", Name: "Cardiology"}
		return tx.CreateDepartment(ctx, &card)
	})
	east.Name = "East Campus"
	moved := fairslot.Department{ID: f.dept.ID, CampusID: east.ID, Code: "PAED", Name: "Children"}
	update(t, s, func(tx storage.Tx) error {
		if err := tx.UpdateCampus(ctx, east); err != nil {
			return err
		}
		return tx.UpdateDepartment(ctx, moved)
	})
	s.View(ctx, func(tx storage.Tx) error {
		cs, err := tx.Campuses(ctx)
		if err != nil || !slices.Contains(cs, east) {
			t.Errorf("campuses = %+v, %v; want %+v among them", cs, err, east)
		}
		got, err := tx.Department(ctx, f.dept.ID)
		if err != nil || got != moved {
			t.Errorf("department after the edit = %+v, %v; want %+v", got, err, moved)
		}
		return nil
	})
	for _, tt := range []struct {
		name string
		fn   func(tx storage.Tx) error
		kind fairslot.Kind
	}{
		{"another department's code", func(tx storage.Tx) error {
			d := moved
			d.Code = "CARD"
			return tx.UpdateDepartment(ctx, d)
		}, fairslot.Conflict},
		{"a department that does not exist", func(tx storage.Tx) error {
			return tx.UpdateDepartment(ctx, fairslot.Department{ID: card.ID + 100, CampusID: east.ID, Code: "X", Name: "X"})
		}, fairslot.NotFound},
		{"a campus that does not exist", func(tx storage.Tx) error {
			return tx.UpdateCampus(ctx, fairslot.Campus{ID: east.ID + 100, Name: "X"})
		}, fairslot.NotFound},
	} {
		wantKind(t, tt.name, s.Update(ctx, tt.fn), tt.kind)
	}
}
