package app

import (
	"context"
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/access"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/referral"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/vault"
)

// Referral review for scarce specialists (issue 17 item 4; the rules are
// internal/referral). Which doctors need review is the hospital's
// configuration, stored in the database and changed by admins in the app
// (PutReferralRule, audited): which experts are scarce changes with the
// season and a doctor's fame, and that is an admin's call, not a redeploy.
// A patient submits a description and up to 3 images for a doctor who
// needs review; a clinician — the doctor for their own record, or a nurse
// (the specialist's assistant) in their scope — approves, declines with a
// reason or redirects to a general clinic; until then, every door to a
// place with that doctor (draw entry, hold, waitlist, FHIR $hold through
// them, and walk-ins at the kiosk or desk) refuses the patient with a
// message that says how to apply. A screener may suggest; it never decides.

// Screener is the hospital's triage service (internal/screener's HTTP
// client, say an AI model): it reads a request's description and suggests.
// Its suggestion orders the clinicians' queue and is shown to them; it
// never approves or declines anything.
type Screener interface {
	Screen(ctx context.Context, r ScreenRequest) (referral.Suggestion, error)
}

// ScreenRequest is what a screener is told: no name, no ID number, no
// images — the description, and the doctor asked for.
type ScreenRequest struct {
	Ref         string `json:"ref"` // the request's random reference, to correlate the screener's logs
	Doctor      string `json:"doctor"`
	Department  string `json:"department"`
	Description string `json:"description"`
	Images      int    `json:"images"`
}

// ReferralInput is a patient's request for review.
type ReferralInput struct {
	PatientID   int64    `json:"patient_id"`
	DoctorID    int64    `json:"doctor_id"`
	Description string   `json:"description"`
	Images      [][]byte `json:"-"` // as uploaded; at most referral.MaxImages
}

// ReferralView is a request as its patient's account or a clinician sees
// it. The patient is masked; the description is only in the clinician's
// view (ReferralQueue) and the patient's own (Referrals).
type ReferralView struct {
	ID          int64           `json:"id"`
	PatientID   int64           `json:"patient_id"`
	Patient     string          `json:"patient"`
	DoctorID    int64           `json:"doctor_id"`
	Doctor      string          `json:"doctor"`
	Department  string          `json:"department"`
	Description string          `json:"description,omitempty"`
	Status      referral.Status `json:"status"`
	// For is the release the request was made for (its session's date;
	// "" when none was planned), DecideBy when the hospital decides by.
	ForSessionID int64     `json:"for_session_id,omitempty"`
	ForDate      string    `json:"for_date,omitempty"`
	DecideBy     time.Time `json:"decide_by"`
	DecidedAt    time.Time `json:"decided_at,omitzero"`
	Reason       string    `json:"reason,omitempty"`
	RedirectTo   string    `json:"redirect_to,omitempty"` // the general clinic's name
	RedirectID   int64     `json:"redirect_department_id,omitempty"`
	ValidUntil   time.Time `json:"valid_until,omitzero"`
	// Admits: the patient may enter or book the doctor now.
	Admits    bool      `json:"admits"`
	Images    int       `json:"images"`
	CreatedAt time.Time `json:"created_at"`
	// The screener's suggestion, for clinicians only.
	Suggestion *referral.Suggestion `json:"suggestion,omitempty"`
}

// StatusKey is the catalogue key of the request's status.
func (v ReferralView) StatusKey() string { return "referral.status." + string(v.Status) }

func descriptionField(ref string) vault.Field {
	return vault.Field{Table: "referrals", Row: ref, Column: "description"}
}
func reasonField(ref string) vault.Field {
	return vault.Field{Table: "referrals", Row: ref, Column: "reason"}
}
func screenNoteField(ref string) vault.Field {
	return vault.Field{Table: "referrals", Row: ref, Column: "screen_note"}
}
func imageField(ref string) vault.Field {
	return vault.Field{Table: "referral_images", Row: ref, Column: "data"}
}

// referralPolicy is the configured policy with the database's rules.
func (s *Service) referralPolicy(ctx context.Context, tx storage.Tx) (referral.Policy, error) {
	p := s.Referral
	rules, err := tx.ReferralRules(ctx)
	p.Rules = rules
	return p, err
}

// SubmitReferral stores a patient's request for review of their need to
// see a doctor who needs it. Images are checked and re-encoded (their
// metadata dropped) and sealed before the transaction; the request says
// which release it is for and by when the hospital decides.
func (s *Service) SubmitReferral(ctx context.Context, a Actor, in ReferralInput) (ReferralView, error) {
	if err := s.requireAccount(a); err != nil {
		return ReferralView{}, err
	}
	if err := referral.CheckDescription(in.Description); err != nil {
		return ReferralView{}, err
	}
	if len(in.Images) > referral.MaxImages {
		return ReferralView{}, fairslot.E(fairslot.Invalid, "error.referral.images_many", "send at most %d images", referral.MaxImages).On("images")
	}
	r := storage.Referral{Ref: newRef(), AccountID: a.ID, PatientID: in.PatientID, DoctorID: in.DoctorID, CreatedAt: s.now()}
	var err error
	if r.DescriptionSealed, err = s.Vault.Seal(descriptionField(r.Ref), in.Description); err != nil {
		return ReferralView{}, err
	}
	imgs := make([]storage.ReferralImage, 0, len(in.Images))
	for i, raw := range in.Images {
		clean, err := referral.Clean(i+1, raw)
		if err != nil {
			return ReferralView{}, err
		}
		img := storage.ReferralImage{Ref: newRef(), N: i + 1, Type: clean.Type, Width: clean.Width, Height: clean.Height, CreatedAt: r.CreatedAt}
		if img.DataSealed, err = s.Vault.Seal(imageField(img.Ref), string(clean.Data)); err != nil {
			return ReferralView{}, err
		}
		imgs = append(imgs, img)
	}
	now := r.CreatedAt
	err = s.committed(ctx, func(tx storage.Tx) (error, error) {
		if err := s.requireConsent(ctx, tx, a); err != nil {
			return nil, err
		}
		if ok, err := tx.Bound(ctx, a.ID, in.PatientID); err != nil || !ok {
			return nil, firstErr(err, fairslot.E(fairslot.NotFound, "error.patient.not_yours", "no such patient on your account").On("patient_id"))
		}
		doc, err := tx.Doctor(ctx, in.DoctorID)
		if fairslot.ErrorKind(err) == fairslot.NotFound {
			return nil, fairslot.E(fairslot.NotFound, "error.referral.no_doctor", "no such doctor").On("doctor_id")
		} else if err != nil {
			return nil, err
		}
		p, err := s.referralPolicy(ctx, tx)
		if err != nil {
			return nil, err
		}
		if _, need := p.Requires(doc.ID, doc.DepartmentID); !need {
			return nil, fairslot.E(fairslot.Conflict, "error.referral.not_needed", "this doctor needs no review: book or enter the draw directly").On("doctor_id")
		}
		past, err := tx.PatientReferrals(ctx, in.PatientID, doc.ID)
		if err != nil {
			return nil, err
		}
		for _, x := range past {
			if x.Status == referral.Pending {
				return nil, fairslot.E(fairslot.Conflict, "error.referral.pending", "this patient already has a request waiting for this doctor")
			}
			if referral.Admits(x.Status, x.ValidUntil, now) {
				return nil, fairslot.E(fairslot.Conflict, "error.referral.approved", "this patient may already enter or book this doctor")
			}
		}
		releases, err := s.upcomingReleases(ctx, tx, doc.ID, now)
		if err != nil {
			return nil, err
		}
		d := p.DeadlineFor(now, releases)
		r.ForSessionID, r.Shuts, r.DecideBy = d.For.SessionID, d.For.Shuts, d.DecideBy
		if err := tx.InsertReferral(ctx, &r); err != nil {
			return nil, err
		}
		for i := range imgs {
			imgs[i].ReferralID = r.ID
			if err := tx.InsertReferralImage(ctx, &imgs[i]); err != nil {
				return nil, err
			}
		}
		return nil, s.record(ctx, tx, a, "referral.submit", fmt.Sprintf("referral:%d", r.ID), map[string]string{
			"patient": fmt.Sprint(in.PatientID), "doctor": fmt.Sprint(doc.ID), "images": fmt.Sprint(len(imgs)),
			"for_session": fmt.Sprint(r.ForSessionID), "decide_by": r.DecideBy.Format(time.RFC3339)})
	})
	if err != nil {
		return ReferralView{}, err
	}
	return s.referralView(ctx, r.ID, true, false)
}

// upcomingReleases lists the doctor's releases still to shut after now
// (sessions planned up to 60 days ahead, not cancelled): when each shuts
// for a patient not yet approved — a draw's entry close, a first-come
// release's opening.
func (s *Service) upcomingReleases(ctx context.Context, tx storage.Tx, doctorID int64, now time.Time) ([]referral.Release, error) {
	sessions, err := tx.Sessions(ctx, storage.SessionFilter{DoctorID: doctorID, From: now.Format(time.DateOnly),
		To: now.AddDate(0, 0, 60).Format(time.DateOnly)})
	if err != nil {
		return nil, err
	}
	var out []referral.Release
	for _, sess := range sessions {
		if sess.Cancelled() {
			continue
		}
		rel, err := s.releaseOf(ctx, tx, sess)
		if err != nil {
			return nil, err
		}
		shuts := rel.Opens
		if rel.Mode == fairslot.Draw {
			shuts = rel.EntryCloses
		}
		if shuts.After(now) {
			out = append(out, referral.Release{SessionID: sess.ID, Shuts: shuts})
		}
	}
	return out, nil
}

// referralView reads a request's view: with its description for its own
// account or a clinician (describe), with the screener's suggestion for a
// clinician only (clinician).
func (s *Service) referralView(ctx context.Context, id int64, describe, clinician bool) (v ReferralView, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		r, err := tx.Referral(ctx, id)
		if err != nil {
			return err
		}
		v, err = s.describeReferral(ctx, tx, r, describe, clinician)
		return err
	})
	return v, err
}

func (s *Service) describeReferral(ctx context.Context, tx storage.Tx, r storage.Referral, describe, clinician bool) (ReferralView, error) {
	v := ReferralView{ID: r.ID, PatientID: r.PatientID, DoctorID: r.DoctorID, Status: r.Status, ForSessionID: r.ForSessionID,
		DecideBy: r.DecideBy, DecidedAt: r.DecidedAt, ValidUntil: r.ValidUntil, Images: r.Images, CreatedAt: r.CreatedAt,
		RedirectID: r.RedirectDepartmentID, Admits: referral.Admits(r.Status, r.ValidUntil, s.now())}
	var err error
	if v.Patient, err = s.patientName(ctx, tx, r.PatientID); err != nil {
		return v, err
	}
	l, err := s.sessionLabel(ctx, tx, 0, r.DoctorID, "", s.now())
	if err != nil {
		return v, err
	}
	v.Doctor, v.Department = l.Doctor, l.Department
	if r.ForSessionID != 0 {
		sess, err := tx.Session(ctx, r.ForSessionID)
		if err != nil {
			return v, err
		}
		v.ForDate = sess.Date
	}
	if r.RedirectDepartmentID != 0 {
		d, err := tx.Department(ctx, r.RedirectDepartmentID)
		if err != nil {
			return v, err
		}
		v.RedirectTo = d.Name
	}
	if v.Reason, err = s.Vault.Open(reasonField(r.Ref), r.ReasonSealed); err != nil {
		return v, err
	}
	if describe {
		if v.Description, err = s.Vault.Open(descriptionField(r.Ref), r.DescriptionSealed); err != nil {
			return v, err
		}
	}
	if clinician && r.Screened {
		note, err := s.Vault.Open(screenNoteField(r.Ref), r.ScreenNoteSealed)
		if err != nil {
			return v, err
		}
		v.Suggestion = &referral.Suggestion{Score: r.ScreenScore, Label: r.ScreenLabel, Note: note}
	}
	return v, nil
}

// Referrals lists the caller's account's requests, newest first.
func (s *Service) Referrals(ctx context.Context, a Actor) (out []ReferralView, err error) {
	if err := s.requireAccount(a); err != nil {
		return nil, err
	}
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		rs, err := tx.ReferralsOf(ctx, a.ID)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if ok, err := tx.Bound(ctx, a.ID, r.PatientID); err != nil {
				return err
			} else if !ok {
				continue // a family member removed from the account: their requests go with them
			}
			v, err := s.describeReferral(ctx, tx, r, true, false)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// ReferralNeeds says, for the pages, whether a doctor needs review, and
// for each of the account's patients whether they may enter or book now.
type ReferralNeeds struct {
	Required bool           `json:"required"`
	Admitted map[int64]bool `json:"admitted,omitempty"` // by patient id
}

// ReferralNeed reports whether a doctor needs review and which of the
// caller's patients are admitted.
func (s *Service) ReferralNeed(ctx context.Context, a Actor, doctorID int64) (n ReferralNeeds, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		doc, err := tx.Doctor(ctx, doctorID)
		if err != nil {
			return err
		}
		p, err := s.referralPolicy(ctx, tx)
		if err != nil {
			return err
		}
		if _, n.Required = p.Requires(doc.ID, doc.DepartmentID); !n.Required || a.Kind != storage.AccountToken {
			return nil
		}
		recs, err := tx.PatientsOf(ctx, a.ID)
		if err != nil {
			return err
		}
		n.Admitted = map[int64]bool{}
		for _, rec := range recs {
			rs, err := tx.PatientReferrals(ctx, rec.ID, doc.ID)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if referral.Admits(r.Status, r.ValidUntil, s.now()) {
					n.Admitted[rec.ID] = true
				}
			}
		}
		return nil
	})
	return n, err
}

// referralGate refuses a patient a place with sess's doctor — a draw
// entry, a hold, a waitlist place, a walk-in — when that doctor needs
// review and the patient holds no request that admits them at now. The
// message says where they stand and what to do. Places the system gives
// later to an entry or a waitlist place made while admitted (a draw win,
// a waitlist offer) are not gated again: the approval covered the release.
func (s *Service) referralGate(ctx context.Context, tx storage.Tx, patientID int64, sess fairslot.Session, now time.Time) error {
	p, err := s.referralPolicy(ctx, tx)
	if err != nil {
		return err
	}
	if _, need := p.Requires(sess.DoctorID, sess.DepartmentID); !need {
		return nil
	}
	rs, err := tx.PatientReferrals(ctx, patientID, sess.DoctorID)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if referral.Admits(r.Status, r.ValidUntil, now) {
			return nil
		}
	}
	if len(rs) == 0 {
		return fairslot.E(fairslot.Forbidden, "error.referral.required",
			"this doctor sees patients after a review: send a short description of the condition (and up to 3 pictures) under My referrals; the hospital decides before the release you apply for")
	}
	switch r := rs[0]; r.Status {
	case referral.Pending:
		at := r.DecideBy.In(s.Location).Format("2006-01-02 15:04")
		return fairslot.E(fairslot.Forbidden, "error.referral.waiting",
			"the request to see this doctor is being reviewed; the hospital decides by %s", at).With(at)
	case referral.Declined:
		return fairslot.E(fairslot.Forbidden, "error.referral.declined",
			"the request to see this doctor was not approved (the reason is in My referrals); a general clinic can see the patient, or send a new request with more detail")
	case referral.Redirected:
		return fairslot.E(fairslot.Forbidden, "error.referral.redirected",
			"the request to see this doctor was redirected to a general clinic (see My referrals); book that clinic instead")
	case referral.Expired:
		if r.ValidUntil.IsZero() {
			return fairslot.E(fairslot.Forbidden, "error.referral.unreviewed",
				"the hospital did not review the request to see this doctor in time: send a new request under My referrals")
		}
	}
	return fairslot.E(fairslot.Forbidden, "error.referral.lapsed",
		"the approval to see this doctor has lapsed: send a new request under My referrals")
}

// reviewer checks a may review requests for doctor doc: a doctor for
// their own doctor record, a nurse in their campus or department.
func (s *Service) reviewer(ctx context.Context, tx storage.Tx, a Actor, doc fairslot.Doctor) error {
	if err := s.requireStaff(a, fairslot.ActReviewReferral); err != nil {
		return err
	}
	if a.Role == fairslot.DoctorRole && (a.Scope.DoctorID == 0 || a.Scope.DoctorID != doc.ID) {
		return fairslot.E(fairslot.Forbidden, "error.referral.not_your_doctor", "a doctor reviews only the requests to see their own doctor record")
	}
	return s.departmentInScope(ctx, tx, a, doc.DepartmentID)
}

// ReferralQueue lists the pending requests the caller may review with
// their descriptions and screener suggestions: the nearest deadline first,
// then what the screener thinks most needs the expert. The look is audited.
func (s *Service) ReferralQueue(ctx context.Context, a Actor) (out []ReferralView, err error) {
	if err := s.requireStaff(a, fairslot.ActReviewReferral); err != nil {
		return nil, err
	}
	q := storage.ReferralQueue{DoctorID: a.Scope.DoctorID, DepartmentID: a.Scope.DepartmentID}
	if a.Role == fairslot.DoctorRole && a.Scope.DoctorID == 0 {
		return nil, fairslot.E(fairslot.Forbidden, "error.scope.doctor", "a doctor acts only on the sessions of their own doctor record")
	}
	var ids []string
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		out, ids = nil, nil
		rs, err := tx.PendingReferrals(ctx, q)
		if err != nil {
			return err
		}
		items := make([]referral.QueueItem, 0, len(rs))
		byID := map[int64]storage.Referral{}
		for _, r := range rs {
			doc, err := tx.Doctor(ctx, r.DoctorID)
			if err != nil {
				return err
			}
			if s.reviewer(ctx, tx, a, doc) != nil {
				continue // another campus
			}
			items = append(items, referral.QueueItem{ID: r.ID, DecideBy: r.DecideBy, Score: r.ScreenScore, Screened: r.Screened})
			byID[r.ID] = r
		}
		referral.Order(items)
		for _, it := range items {
			v, err := s.describeReferral(ctx, tx, byID[it.ID], true, true)
			if err != nil {
				return err
			}
			out = append(out, v)
			ids = append(ids, fmt.Sprint(it.ID))
			if err := s.referralLook(ctx, tx, a, byID[it.ID], "description"); err != nil {
				return err
			}
		}
		if len(ids) == 0 {
			return nil
		}
		return s.record(ctx, tx, a, "referral.queue", "referrals", map[string]string{"shown": fmt.Sprint(len(ids))})
	})
	return out, err
}

// referralLook records, for the patient's "who looked" list, that a
// clinician read a request's description or one of its pictures: once a
// day per clinician, request and part.
func (s *Service) referralLook(ctx context.Context, tx storage.Tx, a Actor, r storage.Referral, part string) error {
	now := s.now()
	_, err := s.appendAccess(ctx, tx, storage.AccessRecord{At: now, StaffID: a.ID, Role: string(a.Role), PatientID: r.PatientID,
		Kind: string(access.View), Field: "referral", Reason: "referral_review", Place: "referral review",
		Subject: fmt.Sprintf("patient:%d", r.PatientID),
		Key:     fmt.Sprintf("referral:%d:%d:%s:%s", a.ID, r.ID, part, now.Format(time.DateOnly))}, "")
	return err
}

// ReferralImage is one image of a request, for a clinician who may review
// it: its type (image/jpeg or image/png) and bytes. Each look is audited.
func (s *Service) ReferralImage(ctx context.Context, a Actor, referralID int64, n int) (typ string, data []byte, err error) {
	if err := s.requireStaff(a, fairslot.ActReviewReferral); err != nil {
		return "", nil, err
	}
	var img storage.ReferralImage
	err = s.Store.Update(ctx, func(tx storage.Tx) error {
		r, err := tx.Referral(ctx, referralID)
		if err != nil {
			return err
		}
		doc, err := tx.Doctor(ctx, r.DoctorID)
		if err != nil {
			return err
		}
		if err := s.reviewer(ctx, tx, a, doc); err != nil {
			return err
		}
		if img, err = tx.ReferralImage(ctx, referralID, n); err != nil {
			return err
		}
		if err := s.referralLook(ctx, tx, a, r, fmt.Sprintf("image:%d", n)); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "referral.image.view", fmt.Sprintf("referral:%d", referralID), map[string]string{"image": fmt.Sprint(n)})
	})
	if err != nil {
		return "", nil, err
	}
	plain, err := s.Vault.Open(imageField(img.Ref), img.DataSealed)
	if err != nil {
		return "", nil, err
	}
	if !referral.StoredType(img.Type) {
		return "", nil, fmt.Errorf("referral image %d/%d has type %q", referralID, n, img.Type)
	}
	return img.Type, []byte(plain), nil
}

// DecisionInput is a clinician's decision on a request.
type DecisionInput struct {
	Decision     referral.Status `json:"decision"` // approved, declined or redirected
	Reason       string          `json:"reason,omitempty"`
	DepartmentID int64           `json:"department_id,omitempty"` // the general clinic to redirect to
}

// DecideReferral approves, declines or redirects a pending request, once;
// the patient's account is told.
func (s *Service) DecideReferral(ctx context.Context, a Actor, id int64, in DecisionInput) (ReferralView, error) {
	if err := s.requireStaff(a, fairslot.ActReviewReferral); err != nil {
		return ReferralView{}, err
	}
	if err := referral.CheckDecision(referral.Decision{To: in.Decision, Reason: in.Reason, RedirectDepartment: in.DepartmentID}); err != nil {
		return ReferralView{}, err
	}
	now := s.now()
	err := s.committed(ctx, func(tx storage.Tx) (error, error) {
		r, err := tx.Referral(ctx, id)
		if err != nil {
			return nil, err
		}
		doc, err := tx.Doctor(ctx, r.DoctorID)
		if err != nil {
			return nil, err
		}
		if err := s.reviewer(ctx, tx, a, doc); err != nil {
			return nil, err
		}
		if r.Status != referral.Pending {
			return nil, fairslot.E(fairslot.Conflict, "error.referral.decided", "this request was decided meanwhile")
		}
		d := storage.ReferralDecision{ID: r.ID, Status: in.Decision, StaffID: a.ID, At: now}
		p, err := s.referralPolicy(ctx, tx)
		if err != nil {
			return nil, err
		}
		body := notify.Body{Params: map[string]string{}}
		switch in.Decision {
		case referral.Approved:
			rule, _ := p.Requires(doc.ID, doc.DepartmentID)
			d.ValidUntil = p.ValidUntil(rule, now, referral.Deadline{For: referral.Release{SessionID: r.ForSessionID, Shuts: r.Shuts}})
			body.Key, body.Params["until"] = notify.KeyReferralApproved, s.stamp(d.ValidUntil)
		case referral.Declined:
			body.Key = notify.KeyReferralDeclined
		case referral.Redirected:
			dept, err := tx.Department(ctx, in.DepartmentID)
			if fairslot.ErrorKind(err) == fairslot.NotFound {
				return nil, fairslot.E(fairslot.Invalid, "error.referral.redirect_department", "choose the clinic to redirect the patient to").On("department_id")
			} else if err != nil {
				return nil, err
			}
			d.RedirectDepartmentID = dept.ID
			body.Key, body.Params["clinic"] = notify.KeyReferralRedirected, dept.Name
		}
		if d.ReasonSealed, err = s.Vault.Seal(reasonField(r.Ref), in.Reason); err != nil {
			return nil, err
		}
		if err := tx.DecideReferral(ctx, d); err != nil {
			return nil, err
		}
		detail := map[string]string{"decision": string(in.Decision), "patient": fmt.Sprint(r.PatientID), "doctor": fmt.Sprint(r.DoctorID)}
		if d.RedirectDepartmentID != 0 {
			detail["redirect_department"] = fmt.Sprint(d.RedirectDepartmentID)
		}
		if !d.ValidUntil.IsZero() {
			detail["valid_until"] = d.ValidUntil.Format(time.RFC3339)
		}
		if err := s.record(ctx, tx, a, "referral.decide", fmt.Sprintf("referral:%d", r.ID), detail); err != nil {
			return nil, err
		}
		return nil, s.tellReferral(ctx, tx, r, doc, body)
	})
	if err != nil {
		return ReferralView{}, err
	}
	s.wakeOutbox()
	return s.referralView(ctx, id, true, true)
}

// stamp writes a time as messages show it, in the hospital's zone.
func (s *Service) stamp(t time.Time) string { return t.In(s.Location).Format("2006-01-02 15:04") }

// tellReferral writes a decision's message to the request's account.
func (s *Service) tellReferral(ctx context.Context, tx storage.Tx, r storage.Referral, doc fairslot.Doctor, b notify.Body) error {
	name, err := s.patientName(ctx, tx, r.PatientID)
	if err != nil {
		return err
	}
	dept, err := tx.Department(ctx, doc.DepartmentID)
	if err != nil {
		return err
	}
	b.Params["name"], b.Params["doctor"], b.Params["department"] = name, doc.Name, dept.Name
	return s.tellAccountOnce(ctx, tx, r.AccountID, b, fmt.Sprintf("referral:%d:%s", r.ID, b.Key))
}

// ExpireReferrals ends the pending requests nobody decided by their
// deadline. An expired request admits nobody and its patient is asked to
// apply again — unless the hospital's policy admits the undecided
// (referral.Policy.AdmitUndecided): then it admits its patient to the
// release they applied for, until it shuts. It returns how many it expired.
func (s *Service) ExpireReferrals(ctx context.Context) (int, error) {
	now := s.now()
	n := 0
	err := s.Store.Update(ctx, func(tx storage.Tx) error {
		due, err := tx.DueReferrals(ctx, now, 100)
		if err != nil {
			return err
		}
		for _, r := range due {
			d := storage.ReferralDecision{ID: r.ID, Status: referral.Expired, At: now,
				ValidUntil: s.Referral.ExpiredValidUntil(referral.Deadline{For: referral.Release{SessionID: r.ForSessionID, Shuts: r.Shuts}})}
			if err := tx.DecideReferral(ctx, d); err != nil {
				return err
			}
			detail := map[string]string{"patient": fmt.Sprint(r.PatientID), "doctor": fmt.Sprint(r.DoctorID)}
			b := notify.Body{Key: notify.KeyReferralLapsed, Params: map[string]string{}}
			if !d.ValidUntil.IsZero() {
				detail["valid_until"] = d.ValidUntil.Format(time.RFC3339)
				b.Key, b.Params["until"] = notify.KeyReferralExpired, s.stamp(d.ValidUntil)
			}
			if err := s.record(ctx, tx, System, "referral.expire", fmt.Sprintf("referral:%d", r.ID), detail); err != nil {
				return err
			}
			doc, err := tx.Doctor(ctx, r.DoctorID)
			if err != nil {
				return err
			}
			if err := s.tellReferral(ctx, tx, r, doc, b); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if n > 0 && err == nil {
		s.wakeOutbox()
	}
	return n, err
}

// ScreenReferrals asks the screener about pending requests it has not
// seen, outside any transaction (it is a network call with its own
// deadline and circuit breaker), and stores each suggestion. A screener
// that fails or is absent leaves the requests unscreened: the queue is
// then ordered by deadline alone, and nothing else changes.
func (s *Service) ScreenReferrals(ctx context.Context) (int, error) {
	if s.Screener == nil {
		return 0, nil
	}
	var todo []ScreenRequest
	var ids []int64
	err := s.Store.View(ctx, func(tx storage.Tx) error {
		rs, err := tx.UnscreenedReferrals(ctx, 20)
		if err != nil {
			return err
		}
		for _, r := range rs {
			desc, err := s.Vault.Open(descriptionField(r.Ref), r.DescriptionSealed)
			if err != nil {
				return err
			}
			l, err := s.sessionLabel(ctx, tx, 0, r.DoctorID, "", s.now())
			if err != nil {
				return err
			}
			todo = append(todo, ScreenRequest{Ref: r.Ref, Doctor: l.Doctor, Department: l.Department, Description: desc, Images: r.Images})
			ids = append(ids, r.ID)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for i, req := range todo {
		sug, err := s.Screener.Screen(ctx, req)
		if err != nil {
			s.Log.Warn("referral screener failed", "referral", ids[i], "err", err)
			continue
		}
		note, err := s.Vault.Seal(screenNoteField(req.Ref), sug.Note)
		if err != nil {
			return n, err
		}
		err = s.Store.Update(ctx, func(tx storage.Tx) error { return tx.ScreenReferral(ctx, ids[i], sug, note) })
		if fairslot.ErrorKind(err) == fairslot.Conflict {
			continue // decided or screened meanwhile
		} else if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// ReferralRuleInput is an admin's rule for a doctor or a department.
type ReferralRuleInput struct {
	DepartmentID int64 `json:"department_id,omitempty"`
	DoctorID     int64 `json:"doctor_id,omitempty"`
	Required     bool  `json:"required"`
	ValidityDays int   `json:"validity_days,omitempty"` // 0: the hospital's default
}

// ReferralRules lists the stored rules (staff who schedule or review).
func (s *Service) ReferralRules(ctx context.Context, a Actor) (rules []referral.Rule, err error) {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return nil, err
	}
	err = s.Store.View(ctx, func(tx storage.Tx) (err error) {
		rules, err = tx.ReferralRules(ctx)
		return err
	})
	return rules, err
}

// PutReferralRule sets whether a doctor or department needs review, and
// for how long an approval lasts: an admin's act, audited, within their
// scope.
func (s *Service) PutReferralRule(ctx context.Context, a Actor, in ReferralRuleInput) error {
	if err := s.requireStaff(a, fairslot.ActSchedule); err != nil {
		return err
	}
	if in.ValidityDays < 0 || in.ValidityDays > int(referral.MaxValidity/(24*time.Hour)) {
		return fairslot.E(fairslot.Invalid, "error.referral.rule_validity", "an approval's validity must be between 1 and %d days", int(referral.MaxValidity/(24*time.Hour))).On("validity_days")
	}
	r := referral.Rule{DepartmentID: in.DepartmentID, DoctorID: in.DoctorID, Required: in.Required, Validity: time.Duration(in.ValidityDays) * 24 * time.Hour}
	if err := r.Check(); err != nil {
		return err
	}
	return s.Store.Update(ctx, func(tx storage.Tx) error {
		dept := r.DepartmentID
		if r.DoctorID != 0 {
			doc, err := tx.Doctor(ctx, r.DoctorID)
			if err != nil {
				return err
			}
			dept = doc.DepartmentID
		} else if _, err := tx.Department(ctx, dept); err != nil {
			return err
		}
		if err := s.departmentInScope(ctx, tx, a, dept); err != nil {
			return err
		}
		if err := tx.PutReferralRule(ctx, r, a.ID, s.now()); err != nil {
			return err
		}
		return s.record(ctx, tx, a, "referral.rule", fmt.Sprintf("department:%d/doctor:%d", r.DepartmentID, r.DoctorID),
			map[string]string{"required": fmt.Sprint(r.Required), "validity_days": fmt.Sprint(in.ValidityDays)})
	})
}

// ReviewedDoctors lists the doctors who need review now, for the form a
// patient asks on.
func (s *Service) ReviewedDoctors(ctx context.Context) (out []fairslot.Doctor, err error) {
	err = s.Store.View(ctx, func(tx storage.Tx) error {
		p, err := s.referralPolicy(ctx, tx)
		if err != nil || len(p.Rules) == 0 {
			return err
		}
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
				if _, need := p.Requires(doc.ID, doc.DepartmentID); need && !doc.Retired {
					out = append(out, doc)
				}
			}
		}
		return nil
	})
	return out, err
}
