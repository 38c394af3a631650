// Package demo seeds a demo hospital into an empty store: two campuses,
// seven departments (one a 24-hour fever clinic, so the demo can be walked
// through at any hour), 21 doctors of whom 7 are experts, seven days of
// sessions, demo staff and a demo patient account. It must never run against
// a store that already holds a hospital.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/release"
	"github.com/fairslot/fairslot/internal/storage"
)

// Password is every demo staff member's password.
const Password = app.DemoPassword

// PatientPhone is the demo patient account's phone.
const PatientPhone = "13800138000"

// Staff are the demo staff logins.
var Staff = []fairslot.Staff{
	{Username: "desk", Name: "Registration desk", Role: fairslot.Registrar},
	{Username: "nurse", Name: "Triage nurse", Role: fairslot.Nurse},
	{Username: "doctor", Name: "Dr Demo", Role: fairslot.DoctorRole},
	{Username: "admin", Name: "Administrator", Role: fairslot.Admin},
	{Username: "kiosk", Name: "Self-service kiosk", Role: fairslot.Kiosk},
	{Username: "security", Name: "Security officer", Role: fairslot.Security},
}

// DemoDoctor is the username linked to the demo's first doctor record (the
// fever clinic's): a doctor acts only on their own record's sessions.
const DemoDoctor = "doctor"

type dept struct {
	code, name string
	campus     int
	allDay     bool
	doctors    []string // the first is the expert
}

var depts = []dept{
	{"FEVER", "发热门诊 Fever Clinic (24h)", 0, true, []string{"林医生 Dr Lin", "周医生 Dr Zhou", "吴医生 Dr Wu"}},
	{"PED", "儿科 Paediatrics", 0, false, []string{"王主任 Prof Wang", "李医生 Dr Li", "张医生 Dr Zhang"}},
	{"CARD", "心内科 Cardiology", 0, false, []string{"陈主任 Prof Chen", "刘医生 Dr Liu", "杨医生 Dr Yang"}},
	{"RESP", "呼吸内科 Respiratory", 0, false, []string{"黄主任 Prof Huang", "赵医生 Dr Zhao", "孙医生 Dr Sun"}},
	{"DERM", "皮肤科 Dermatology", 1, false, []string{"徐主任 Prof Xu", "朱医生 Dr Zhu", "胡医生 Dr Hu"}},
	{"OPH", "眼科 Ophthalmology", 1, false, []string{"郭主任 Prof Guo", "何医生 Dr He", "高医生 Dr Gao"}},
	{"ORTH", "骨科 Orthopaedics", 1, false, []string{"罗主任 Prof Luo", "郑医生 Dr Zheng", "梁医生 Dr Liang"}},
}

// Seeded reports whether the store already holds a hospital.
func Seeded(ctx context.Context, s storage.Store) (bool, error) {
	var n int
	err := s.View(ctx, func(tx storage.Tx) error {
		ds, err := tx.Departments(ctx)
		n = len(ds)
		return err
	})
	return n > 0, err
}

// Seed fills an empty store with the demo hospital, sessions from today for
// seven days in the service's time zone.
func Seed(ctx context.Context, svc *app.Service) error {
	now := svc.Now().In(svc.Location)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, svc.Location)
	var firstDoctor int64
	err := svc.Store.Update(ctx, func(tx storage.Tx) error {
		h := fairslot.Hospital{Name: "fairslot 示范医院 Demo Hospital"}
		if err := tx.CreateHospital(ctx, &h); err != nil {
			return err
		}
		var campuses []int64
		for _, name := range []string{"东院区 East Campus", "西院区 West Campus"} {
			c := fairslot.Campus{HospitalID: h.ID, Name: name}
			if err := tx.CreateCampus(ctx, &c); err != nil {
				return err
			}
			campuses = append(campuses, c.ID)
		}
		room := 100
		firstDoctor = 0
		for _, d := range depts {
			dep := fairslot.Department{CampusID: campuses[d.campus], Code: d.code, Name: d.name}
			if err := tx.CreateDepartment(ctx, &dep); err != nil {
				return err
			}
			for i, name := range d.doctors {
				doc := fairslot.Doctor{DepartmentID: dep.ID, Name: name, Title: fairslot.General}
				fee := int64(2000)
				if i == 0 {
					doc.Title, fee = fairslot.Expert, 10000
				}
				if err := tx.CreateDoctor(ctx, &doc); err != nil {
					return err
				}
				if firstDoctor == 0 {
					firstDoctor = doc.ID
				}
				room++
				for day := 0; day < 7; day++ {
					for _, p := range periods(today.AddDate(0, 0, day), d.allDay) {
						s := fairslot.Session{DoctorID: doc.ID, DepartmentID: dep.ID, Date: today.AddDate(0, 0, day).Format(time.DateOnly),
							Period: p.period, Start: p.start, End: p.end, Room: fmt.Sprintf("%s-%d", d.code, room), FeeCents: fee}
						slots := fairslot.Windows(p.start, p.end, p.perWindow)
						if err := svc.NewSession(ctx, tx, d.code, &s, slots); err != nil {
							return err
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("demo hospital: %w", err)
	}
	for _, st := range Staff {
		if st.Username == DemoDoctor {
			st.DoctorID = firstDoctor
		}
		if err := svc.CreateStaff(ctx, app.System, &st, Password); err != nil {
			return fmt.Errorf("demo staff: %w", err)
		}
	}
	a, err := svc.OpenAccount(ctx, app.System, PatientPhone)
	if err != nil {
		return fmt.Errorf("demo account: %w", err)
	}
	// The demo's patient has accepted the notice in force (a new phone
	// logging in is asked first, as every patient is).
	if _, err := svc.Consent(ctx, a, svc.Privacy.Version(), "zh-CN"); err != nil {
		return fmt.Errorf("demo consent: %w", err)
	}
	_, err = svc.BindPatient(ctx, a, app.PatientInput{Name: "张三", IDType: fairslot.IDResident, IDNumber: "11010519491231002X", Phone: PatientPhone})
	if err != nil {
		return fmt.Errorf("demo patient: %w", err)
	}
	return nil
}

type period struct {
	period     fairslot.Period
	start, end time.Time
	perWindow  int
}

// periods gives a day's sessions: 08:00–12:00 and 13:30–17:30, or for the
// all-day clinic 00:00–12:00 and 12:00–24:00.
func periods(day time.Time, allDay bool) []period {
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	if allDay {
		return []period{{fairslot.Morning, at(0, 0), at(12, 0), 2}, {fairslot.Afternoon, at(12, 0), at(24, 0), 2}}
	}
	return []period{{fairslot.Morning, at(8, 0), at(12, 0), 3}, {fairslot.Afternoon, at(13, 30), at(17, 30), 3}}
}

// Storm is the simulator's hot release (fairsim release-storm): a famous
// specialist whose two sessions release at the same moment, one by draw and
// one first come, each with the same number of slots.
// It also holds the floor's sessions (fairsim flood and floor): clinics of
// the fever department running from the moment the simulation starts, with
// room for a whole run's check-ins and walk-ins whatever the hour.
type Storm struct {
	DoctorID         int64     `json:"doctor_id"`
	DrawSession      int64     `json:"draw_session"`
	FirstComeSession int64     `json:"first_come_session"`
	Opens            time.Time `json:"opens"`
	EntryCloses      time.Time `json:"entry_closes"`
	Slots            int       `json:"slots"`
	FloorSessions    []int64   `json:"floor_sessions"`
	// Later is the doctor's next release, if the simulation has one
	// (serve --sim-reopens-in): a draw and a first-come session, each
	// two days after the first release's.
	Later *Release `json:"later,omitempty"`
}

// Release is one release of the storm's doctor: a draw and a first-come
// session opening at the same moment.
type Release struct {
	DrawSession      int64     `json:"draw_session"`
	FirstComeSession int64     `json:"first_come_session"`
	Opens            time.Time `json:"opens"`
	EntryCloses      time.Time `json:"entry_closes"`
}

// Releases lists the storm's releases, the first first.
func (st Storm) Releases() []Release {
	out := []Release{{st.DrawSession, st.FirstComeSession, st.Opens, st.EntryCloses}}
	if st.Later != nil {
		out = append(out, *st.Later)
	}
	return out
}

// Floor sessions: FloorDoctors clinics of up to FloorHours, FloorPerWindow
// places in each half hour.
const (
	FloorDoctors   = 3
	FloorHours     = 4
	FloorPerWindow = 60
)

// SeedStorm adds the storm's doctor and sessions to a seeded demo hospital:
// the draw session two days ahead, the first-come one three days ahead (a
// patient may hold a place in both), releasing at opens; the draw's entry
// window lasts window. It adds the floor's sessions too.
func SeedStorm(ctx context.Context, svc *app.Service, opens time.Time, window time.Duration, slots int) (Storm, error) {
	now := svc.Now().In(svc.Location)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, svc.Location)
	st := Storm{Opens: opens.Truncate(time.Millisecond), EntryCloses: opens.Add(window).Truncate(time.Millisecond), Slots: slots}
	err := svc.Store.Update(ctx, func(tx storage.Tx) error {
		ds, err := tx.Departments(ctx)
		if err != nil || len(ds) < 2 {
			return fmt.Errorf("the demo hospital is not seeded: %v", err)
		}
		dep := ds[1] // paediatrics, as in incident I1
		doc := fairslot.Doctor{DepartmentID: dep.ID, Name: "名医 Prof Famous", Title: fairslot.Expert}
		if err := tx.CreateDoctor(ctx, &doc); err != nil {
			return err
		}
		st.DoctorID = doc.ID
		if err := seedRelease(ctx, svc, tx, dep, doc.ID, today.AddDate(0, 0, 2), opens, window, slots, &st.DrawSession, &st.FirstComeSession); err != nil {
			return err
		}
		return seedFloor(ctx, svc, tx, ds[0], now, &st)
	})
	return st, err
}

// SeedLater adds the storm doctor's next release to st, opening at opens:
// a draw session four days after today and a first-come one five days
// after, slots each as the first release's.
func SeedLater(ctx context.Context, svc *app.Service, st *Storm, opens time.Time, window time.Duration) error {
	if !opens.After(st.EntryCloses) {
		return fmt.Errorf("the next release (%v) must come after the first one's window closes (%v)", opens, st.EntryCloses)
	}
	now := svc.Now().In(svc.Location)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, svc.Location)
	r := Release{Opens: opens.Truncate(time.Millisecond), EntryCloses: opens.Add(window).Truncate(time.Millisecond)}
	err := svc.Store.Update(ctx, func(tx storage.Tx) error {
		doc, err := tx.Doctor(ctx, st.DoctorID)
		if err != nil {
			return err
		}
		dep, err := tx.Department(ctx, doc.DepartmentID)
		if err != nil {
			return err
		}
		return seedRelease(ctx, svc, tx, dep, doc.ID, today.AddDate(0, 0, 4), opens, window, st.Slots, &r.DrawSession, &r.FirstComeSession)
	})
	if err == nil {
		st.Later = &r
	}
	return err
}

// seedRelease adds a morning draw session on day and a first-come one the
// day after, slots each, releasing at opens.
func seedRelease(ctx context.Context, svc *app.Service, tx storage.Tx, dep fairslot.Department, doctor int64, day, opens time.Time,
	window time.Duration, slots int, draw, firstCome *int64) error {
	for i, r := range []struct {
		mode fairslot.ReleaseMode
		id   *int64
	}{{fairslot.Draw, draw}, {fairslot.FirstCome, firstCome}} {
		day := day.AddDate(0, 0, i)
		p := periods(day, false)[0]
		s := fairslot.Session{DoctorID: doctor, DepartmentID: dep.ID, Date: day.Format(time.DateOnly), Period: p.period,
			Start: p.start, End: p.end, Room: dep.Code + "-900", FeeCents: 10000}
		n := p.end.Sub(p.start) / fairslot.MaxWindow
		rule := release.Rule{Mode: r.mode, Window: fairslot.Duration(window)}
		if err := svc.NewSessionAt(ctx, tx, rule, &s, fairslot.Windows(p.start, p.end, (slots+int(n)-1)/int(n))[:slots], opens); err != nil {
			return err
		}
		*r.id = s.ID
	}
	return nil
}

// seedFloor adds the floor's sessions: one per new doctor of the fever
// clinic, today, from a minute ago for FloorHours or until midnight (a
// check-in is for the session's day only: a run that crosses midnight
// cannot check patients in after it), open for booking at once.
func seedFloor(ctx context.Context, svc *app.Service, tx storage.Tx, dep fairslot.Department, now time.Time, st *Storm) error {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, svc.Location)
	start := now.Truncate(time.Minute).Add(-time.Minute)
	if start.Before(day) { // in the first minute of the day: not yesterday's session
		start = day
	}
	end := start.Add(FloorHours * time.Hour)
	if midnight := day.AddDate(0, 0, 1); end.After(midnight) {
		end = midnight
	}
	p := fairslot.Morning
	if start.Hour() >= 12 {
		p = fairslot.Afternoon
	}
	for i := range FloorDoctors {
		doc := fairslot.Doctor{DepartmentID: dep.ID, Name: fmt.Sprintf("值班医生 Floor Dr %d", i+1), Title: fairslot.General}
		if err := tx.CreateDoctor(ctx, &doc); err != nil {
			return err
		}
		s := fairslot.Session{DoctorID: doc.ID, DepartmentID: dep.ID, Date: day.Format(time.DateOnly), Period: p,
			Start: start, End: end, Room: fmt.Sprintf("%s-9%02d", dep.Code, i+1), FeeCents: 2000}
		if err := svc.NewSessionAt(ctx, tx, release.Rule{Mode: fairslot.FirstCome}, &s, fairslot.Windows(start, end, FloorPerWindow), start); err != nil {
			return err
		}
		st.FloorSessions = append(st.FloorSessions, s.ID)
	}
	return nil
}
