package fhir

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
)

type reader func(ctx context.Context, id string) (any, error)

// numericID parses a plain id; anything else names no resource.
func numericID(typ, id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != id {
		return 0, fairslot.Errorf(fairslot.NotFound, "%s/%s not found", typ, id)
	}
	return n, nil
}

func prefixedID(typ, prefix, id string) (int64, error) {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok {
		return 0, fairslot.Errorf(fairslot.NotFound, "%s/%s not found", typ, id)
	}
	return numericID(typ, rest)
}

// notFound turns a storage NotFound into the FHIR resource's.
func notFound(err error, typ, id string) error {
	if fairslot.ErrorKind(err) == fairslot.NotFound {
		return fairslot.Errorf(fairslot.NotFound, "%s/%s not found", typ, id)
	}
	return err
}

func (s *Server) hospital(ctx context.Context, tx storage.Tx) (fairslot.Hospital, error) {
	hs, err := tx.Hospitals(ctx)
	if err != nil {
		return fairslot.Hospital{}, err
	}
	if len(hs) == 0 {
		return fairslot.Hospital{}, fairslot.Errorf(fairslot.NotFound, "no hospital is set up")
	}
	return hs[0], nil
}

func (s *Server) readers() map[string]reader {
	return map[string]reader{
		auditType: s.readAuditEvent, // auditevent.go
		"Organization": func(ctx context.Context, id string) (any, error) {
			n, err := numericID("Organization", id)
			if err != nil {
				return nil, err
			}
			var out any
			err = s.view(ctx, func(tx storage.Tx) error {
				hs, err := tx.Hospitals(ctx)
				for _, h := range hs {
					if h.ID == n {
						out = organization(h)
					}
				}
				return err
			})
			if err == nil && out == nil {
				err = fairslot.Errorf(fairslot.NotFound, "Organization/%s not found", id)
			}
			return out, err
		},
		"Location": func(ctx context.Context, id string) (any, error) {
			if strings.HasPrefix(id, "room-") {
				n, err := prefixedID("Location", "room-", id)
				if err != nil {
					return nil, err
				}
				var out Location
				err = s.view(ctx, func(tx storage.Tx) error {
					sess, err := tx.Session(ctx, n)
					if err != nil {
						return err
					}
					dept, err := tx.Department(ctx, sess.DepartmentID)
					out = roomLocation(sess, dept.CampusID)
					return err
				})
				return out, notFound(err, "Location", id)
			}
			n, err := prefixedID("Location", "campus-", id)
			if err != nil {
				return nil, err
			}
			var out any
			err = s.view(ctx, func(tx storage.Tx) error {
				cs, err := tx.Campuses(ctx)
				for _, c := range cs {
					if c.ID == n {
						out = campusLocation(c)
					}
				}
				return err
			})
			if err == nil && out == nil {
				err = fairslot.Errorf(fairslot.NotFound, "Location/%s not found", id)
			}
			return out, err
		},
		"HealthcareService": func(ctx context.Context, id string) (any, error) {
			n, err := numericID("HealthcareService", id)
			if err != nil {
				return nil, err
			}
			var out HealthcareService
			err = s.view(ctx, func(tx storage.Tx) error {
				d, err := tx.Department(ctx, n)
				if err != nil {
					return err
				}
				h, err := s.hospital(ctx, tx)
				out = healthcareService(d, h.ID)
				return err
			})
			return out, notFound(err, "HealthcareService", id)
		},
		"Practitioner": func(ctx context.Context, id string) (any, error) {
			n, err := numericID("Practitioner", id)
			if err != nil {
				return nil, err
			}
			var out Practitioner
			err = s.view(ctx, func(tx storage.Tx) error {
				d, err := tx.Doctor(ctx, n)
				out = practitioner(d)
				return err
			})
			return out, notFound(err, "Practitioner", id)
		},
		"PractitionerRole": func(ctx context.Context, id string) (any, error) {
			n, err := numericID("PractitionerRole", id)
			if err != nil {
				return nil, err
			}
			var out PractitionerRole
			err = s.view(ctx, func(tx storage.Tx) error {
				d, err := tx.Doctor(ctx, n)
				if err != nil {
					return err
				}
				dept, err := tx.Department(ctx, d.DepartmentID)
				if err != nil {
					return err
				}
				h, err := s.hospital(ctx, tx)
				out = practitionerRole(d, dept, h.ID)
				return err
			})
			return out, notFound(err, "PractitionerRole", id)
		},
		"Schedule": func(ctx context.Context, id string) (any, error) {
			n, err := numericID("Schedule", id)
			if err != nil {
				return nil, err
			}
			v, err := s.App.Session(ctx, n)
			if err != nil {
				return nil, notFound(err, "Schedule", id)
			}
			dept, err := s.department(ctx, v.DepartmentID)
			return schedule(v, dept, s.App.Location), err
		},
		"Slot": func(ctx context.Context, id string) (any, error) {
			sid, num, ok := strings.Cut(id, "-")
			n, err1 := numericID("Slot", sid)
			w, err2 := numericID("Slot", num)
			if !ok || err1 != nil || err2 != nil {
				return nil, fairslot.Errorf(fairslot.NotFound, "Slot/%s not found", id)
			}
			v, err := s.App.Session(ctx, n)
			if err != nil {
				return nil, notFound(err, "Slot", id)
			}
			if int(w) > len(v.Windows) {
				return nil, fairslot.Errorf(fairslot.NotFound, "Slot/%s not found", id)
			}
			dept, err := s.department(ctx, v.DepartmentID)
			return slot(v, dept, int(w), v.Windows[w-1], s.now(), s.App.Location), err
		},
		"Appointment": func(ctx context.Context, id string) (any, error) {
			if strings.HasPrefix(id, "d") { // a draw entry (scheduling.go)
				return s.drawEntry(ctx, id)
			}
			if strings.HasPrefix(id, "w") {
				n, err := prefixedID("Appointment", "w", id)
				if err != nil {
					return nil, err
				}
				var out Appointment
				err = s.view(ctx, func(tx storage.Tx) error {
					out, err = s.waitlistAppointment(ctx, tx, n)
					return err
				})
				return out, notFound(err, "Appointment", id)
			}
			n, err := numericID("Appointment", id)
			if err != nil {
				return nil, err
			}
			var out Appointment
			err = s.view(ctx, func(tx storage.Tx) error {
				b, err := tx.Booking(ctx, n)
				if err != nil {
					return err
				}
				out, err = s.appointment(ctx, tx, b, map[int64]sessionInfo{})
				return err
			})
			return out, notFound(err, "Appointment", id)
		},
	}
}

func (s *Server) department(ctx context.Context, id int64) (d fairslot.Department, err error) {
	err = s.view(ctx, func(tx storage.Tx) error {
		d, err = tx.Department(ctx, id)
		return err
	})
	return d, err
}

// sessionInfo is what an Appointment needs of its session, read once per
// session in a search.
type sessionInfo struct {
	sess    fairslot.Session
	doc     fairslot.Doctor
	dept    fairslot.Department
	windows []time.Time // the windows' starts, in order
	ends    []time.Time
}

func (s *Server) sessionInfo(ctx context.Context, tx storage.Tx, id int64, cache map[int64]sessionInfo) (sessionInfo, error) {
	if si, ok := cache[id]; ok {
		return si, nil
	}
	var si sessionInfo
	var err error
	if si.sess, err = tx.Session(ctx, id); err != nil {
		return si, err
	}
	if si.doc, err = tx.Doctor(ctx, si.sess.DoctorID); err != nil {
		return si, err
	}
	if si.dept, err = tx.Department(ctx, si.sess.DepartmentID); err != nil {
		return si, err
	}
	ws, err := tx.Windows(ctx, id, s.now())
	if err != nil {
		return si, err
	}
	for _, w := range ws {
		si.windows, si.ends = append(si.windows, w.Start), append(si.ends, w.End)
	}
	cache[id] = si
	return si, nil
}

func (s *Server) appointment(ctx context.Context, tx storage.Tx, b fairslot.Booking, cache map[int64]sessionInfo) (Appointment, error) {
	si, err := s.sessionInfo(ctx, tx, b.SessionID, cache)
	if err != nil {
		return Appointment{}, err
	}
	sl, err := tx.Slot(ctx, b.SlotID)
	if err != nil {
		return Appointment{}, err
	}
	n := 0
	for i, st := range si.windows {
		if st.Equal(sl.Start) {
			n = i + 1
		}
	}
	return appointment(b, si.sess, si.doc, si.dept, n, sl.Start, sl.End, s.App.Location), nil
}

func (s *Server) waitlistAppointment(ctx context.Context, tx storage.Tx, id int64) (Appointment, error) {
	w, err := tx.WaitlistEntry(ctx, id)
	if err != nil {
		return Appointment{}, err
	}
	doc, err := tx.Doctor(ctx, w.DoctorID)
	if err != nil {
		return Appointment{}, err
	}
	day, err := time.ParseInLocation(time.DateOnly, w.Date, s.App.Location)
	if err != nil {
		return Appointment{}, err
	}
	from, to := day, day.AddDate(0, 0, 1)
	if w.SessionID != 0 {
		sess, err := tx.Session(ctx, w.SessionID)
		if err != nil {
			return Appointment{}, err
		}
		from, to = sess.Start, sess.End
	}
	return waitlistAppointment(w, doc, from, to, s.App.Location), nil
}

// patient reads a masked patient for the request's actor.
func (s *Server) patient(r *http.Request, id string) (any, error) {
	n, err := numericID("Patient", id)
	if err != nil {
		return nil, err
	}
	p, err := s.App.MaskedPatient(r.Context(), s.actor(r), n)
	if err != nil {
		return nil, notFound(err, "Patient", id)
	}
	return patient(p), nil
}
