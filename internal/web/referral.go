package web

import (
	"net/http"
	"strconv"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/referral"
)

// Referral review (issue 17 item 4): the patient's requests and the form
// to ask (a multipart form with pictures), and the clinician's queue with
// the pictures and the approve, decline and redirect forms. Pages that
// show a description or a picture are never cached.

// uploads are the form actions that take files: their body may be as large
// as httpapi.MaxUpload, parsed in memory (checkForm), so their handlers
// check the form only after the login (adapt leaves it to them).
var uploads = map[string]bool{"/me/referrals": true}

func (p *Pages) referralPatientRoutes(h func(string, handler)) {
	h("GET /me/referrals", p.patient(p.referralsPage))
	h("POST /me/referrals", p.patient(p.submitReferral))
}

func (p *Pages) referralStaffRoutes(h func(string, handler)) {
	h("GET /staff/referrals", p.staff(p.referralQueue))
	h("GET /staff/referrals/{id}/images/{n}", p.staff(func(w http.ResponseWriter, r *http.Request, a app.Actor) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		return httpapi.ServeReferralImage(w, r, a, p.API.App, id)
	}))
	h("POST /staff/referrals/{id}/decide", p.staff(p.decideReferral))
}

type referralsPage struct {
	Referrals []app.ReferralView
	Patients  []fairslot.Patient
	Doctors   []fairslot.Doctor
	Doctor    int64 // preselected (?doctor=)
	MaxImages int
}

func (p *Pages) referralsPage(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	ctx := r.Context()
	d := referralsPage{MaxImages: referral.MaxImages}
	var err error
	if d.Referrals, err = p.API.App.Referrals(ctx, a); err != nil {
		return err
	}
	if d.Patients, err = p.API.App.Patients(ctx, a); err != nil {
		return err
	}
	if d.Doctors, err = p.API.App.ReviewedDoctors(ctx); err != nil {
		return err
	}
	d.Doctor, _ = strconv.ParseInt(r.URL.Query().Get("doctor"), 10, 64)
	if v := r.PostFormValue("doctor_id"); v != "" { // a failed submission: its doctor again
		d.Doctor, _ = strconv.ParseInt(v, 10, 64)
	}
	httpapi.NoStore(w)
	return p.render(w, r, 200, "referrals", "referral.title", d)
}

func (p *Pages) submitReferral(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	if err := p.checkForm(w, r); err != nil {
		return err
	}
	in, err := httpapi.ReadReferral(w, r)
	if err == nil {
		_, err = p.API.App.SubmitReferral(r.Context(), a, in)
	}
	if err != nil {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.referralsPage(w, r, a) })
	}
	return see(w, r, "/me/referrals")
}

type referralQueuePage struct {
	Referrals   []app.ReferralView
	Departments []fairslot.Department
	Images      []int // 1..MaxImages, for the template's range
}

func (p *Pages) referralQueue(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	q, err := p.API.App.ReferralQueue(r.Context(), a)
	if err != nil {
		return err
	}
	ds, err := p.API.App.Departments(r.Context())
	if err != nil {
		return err
	}
	httpapi.NoStore(w)
	return p.render(w, r, 200, "referralqueue", "referral.queue.title", referralQueuePage{Referrals: q, Departments: ds, Images: []int{1, 2, 3}})
}

func (p *Pages) decideReferral(w http.ResponseWriter, r *http.Request, a app.Actor) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	in := app.DecisionInput{Decision: referral.Status(r.PostFormValue("decision")), Reason: r.PostFormValue("reason")}
	if in.Decision == referral.Redirected {
		if in.DepartmentID, err = formID(r, "department_id"); err != nil {
			return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.referralQueue(w, r, a) })
		}
	}
	if _, err := p.API.App.DecideReferral(r.Context(), a, id, in); err != nil {
		return p.keep(w, r, err, func(w http.ResponseWriter, r *http.Request) error { return p.referralQueue(w, r, a) })
	}
	return see(w, r, "/staff/referrals")
}
