package kit

import (
	"context"
	"slices"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// StoreSource reads a kit from the store in one read transaction, opening
// each patient's name with the vault only to mask it.
type StoreSource struct {
	Store storage.Store
	Vault *vault.Vault
}

// Departments lists every department.
func (s StoreSource) Departments(ctx context.Context) (ds []fairslot.Department, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		ds, err = tx.Departments(ctx)
		return err
	})
	return ds, err
}

// Page reads one department's kit.
func (s StoreSource) Page(ctx context.Context, departmentID int64, dates []string) (Page, error) {
	var p Page
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		var err error
		p = Page{}
		if p.Department, err = tx.Department(ctx, departmentID); err != nil {
			return err
		}
		patients := map[int64]struct {
			name  string
			proof fairslot.IDType
		}{}
		patient := func(id int64) (string, fairslot.IDType, error) {
			if v, ok := patients[id]; ok {
				return v.name, v.proof, nil
			}
			rec, err := tx.Patient(ctx, id)
			if err != nil {
				return "", "", err
			}
			name, err := s.Vault.Open(vault.Field{Table: "patients", Row: rec.Ref, Column: "name"}, rec.NameSealed)
			if err != nil {
				return "", "", err
			}
			masked := vault.MaskName(name)
			patients[id] = struct {
				name  string
				proof fairslot.IDType
			}{masked, rec.IDType}
			return masked, rec.IDType, nil
		}
		for _, date := range dates {
			day := Day{Date: date}
			sessions, err := tx.Sessions(ctx, storage.SessionFilter{DepartmentID: departmentID, From: date, To: date})
			if err != nil {
				return err
			}
			slices.SortFunc(sessions, func(a, b fairslot.Session) int {
				if c := a.Start.Compare(b.Start); c != 0 {
					return c
				}
				return int(a.ID - b.ID)
			})
			waitlists := map[int64][]fairslot.WaitlistEntry{}
			for _, sess := range sessions {
				doc, err := tx.Doctor(ctx, sess.DoctorID)
				if err != nil {
					return err
				}
				ks := Session{ID: sess.ID, Doctor: doc.Name, Title: doc.Title, Period: sess.Period, Start: sess.Start, End: sess.End, Room: sess.Room}
				bs, err := tx.SessionBookings(ctx, sess.ID)
				if err != nil {
					return err
				}
				var rows []struct {
					slot fairslot.Slot
					row  Row
				}
				for _, b := range bs {
					if b.Status == fairslot.Cancelled || b.Status == fairslot.Expired {
						continue
					}
					slot, err := tx.Slot(ctx, b.SlotID)
					if err != nil {
						return err
					}
					name, proof, err := patient(b.PatientID)
					if err != nil {
						return err
					}
					r := Row{Slot: slot.Number, Code: b.Code, Name: name, Proof: proof, Status: b.Status, Priority: b.Priority, Channel: b.Channel}
					if t, err := tx.Ticket(ctx, b.ID); err == nil {
						r.Ticket = t.Label()
					} else if fairslot.ErrorKind(err) != fairslot.NotFound {
						return err
					}
					rows = append(rows, struct {
						slot fairslot.Slot
						row  Row
					}{slot, r})
				}
				slices.SortFunc(rows, func(a, b struct {
					slot fairslot.Slot
					row  Row
				}) int {
					if c := a.slot.Start.Compare(b.slot.Start); c != 0 {
						return c
					}
					return a.slot.Number - b.slot.Number
				})
				for _, r := range rows {
					if n := len(ks.Windows); n == 0 || !ks.Windows[n-1].Start.Equal(r.slot.Start) {
						ks.Windows = append(ks.Windows, Window{Start: r.slot.Start, End: r.slot.End})
					}
					w := &ks.Windows[len(ks.Windows)-1]
					w.Rows = append(w.Rows, r.row)
				}
				wl, ok := waitlists[sess.DoctorID]
				if !ok {
					if wl, err = tx.Waitlist(ctx, sess.DoctorID, date); err != nil {
						return err
					}
					waitlists[sess.DoctorID] = wl
				}
				for _, w := range wl {
					if w.SessionID != 0 && w.SessionID != sess.ID {
						continue
					}
					name, proof, err := patient(w.PatientID)
					if err != nil {
						return err
					}
					ks.Waitlist = append(ks.Waitlist, Wait{Position: len(ks.Waitlist) + 1, Name: name, Proof: proof, Since: w.CreatedAt, AnySession: w.SessionID == 0})
				}
				day.Sessions = append(day.Sessions, ks)
			}
			p.Days = append(p.Days, day)
		}
		cp, err := tx.LatestAuditCheckpoint(ctx)
		switch {
		case err == nil:
			p.Checkpoint = cp.Note
		case fairslot.ErrorKind(err) != fairslot.NotFound:
			return err
		}
		return nil
	})
	return p, err
}
