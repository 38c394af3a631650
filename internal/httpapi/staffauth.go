package httpapi

import (
	"context"
	"net/http"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
)

// Staff sign-in over the API (issue 12, items 1-3):
//
//	POST /api/v1/staff/login          {username, password, code?}
//	  200 {token, staff, expires_at}  signed in (code given, or the demo in demo mode)
//	  401 {error: {code: "second_factor_required" | "enrolment_required", ...}, next, challenge}
//	  401 {error: {code: "unauthorized", ...}} wrong username, password or code
//	POST /api/v1/staff/second-factor  {challenge, code}        → 200 {token, staff, expires_at}
//	POST /api/v1/staff/enrol          {challenge}              → 200 {secret, otpauth_url}
//	POST /api/v1/staff/enrol/confirm  {challenge, code}        → 200 {token, staff, expires_at, recovery_codes}
//	POST /api/v1/staff/step-up        {code}      (bearer)     → 200 {status: "ok"}
//	GET  /api/v1/staff/accounts                   (bearer)     → 200 {accounts: [...]}
//	POST /api/v1/staff/accounts       {username, name, role, password, doctor_id?, campus_id?, department_id?}
//	  201 {staff, enrolment_code, enrolment_code_expires_at}
//	POST /api/v1/staff/accounts/{id}/reset-mfa → 200 {enrolment_code, enrolment_code_expires_at}
//	POST /api/v1/staff/accounts/{id}/password {password}; .../disable, .../enable, .../unlock → 200
//
// code is a 6-digit TOTP code or a recovery code — or, for an account that
// has not enrolled a second factor yet, the one-time enrolment code its
// admin handed over (shown once, by the add and reset-mfa calls); without
// it a right password is refused like a wrong one. A client that knew only
// the password step gets a 401 whose message says what is missing. A
// sensitive action whose second factor is older than 5 minutes is refused
// with 403 and the code "step_up_required": step up, then retry.

const (
	stepUpRequired       fairslot.Kind = "step_up_required"
	factorRequired       fairslot.Kind = "second_factor_required"
	enrolmentRequired    fairslot.Kind = "enrolment_required"
	msgFactorRequired                  = "the password is right; a second factor is needed: POST {challenge, code} to /api/v1/staff/second-factor, or send code with the password"
	msgEnrolmentRequired               = "the password and enrolment code are right; enrol a second factor now: POST {challenge} to /api/v1/staff/enrol, then {challenge, code} to /api/v1/staff/enrol/confirm"
)

type nextStepBody struct {
	errorBody
	Next      string `json:"next"`
	Challenge string `json:"challenge"`
}

// writeStep writes a sign-in step: the session, or a 401 naming the next
// step.
func (s *Server) writeStep(w http.ResponseWriter, r *http.Request, st app.StaffStep) error {
	if st.Token != "" {
		return writeJSON(w, http.StatusOK, st)
	}
	var b nextStepBody
	b.Error.RequestID, b.Next, b.Challenge = RequestID(r), st.Next, st.Challenge
	b.Error.Code, b.Error.Message = factorRequired, msgFactorRequired
	if st.Next == "enrol" {
		b.Error.Code, b.Error.Message = enrolmentRequired, msgEnrolmentRequired
	}
	return writeJSON(w, http.StatusUnauthorized, b)
}

// addedAccount is a new account and its enrolment code, shown this once.
type addedAccount struct {
	Staff fairslot.Staff `json:"staff"`
	app.EnrolCode
}

type accountBody struct {
	Username     string        `json:"username"`
	Name         string        `json:"name"`
	Role         fairslot.Role `json:"role"`
	Password     string        `json:"password"`
	DoctorID     int64         `json:"doctor_id"`
	CampusID     int64         `json:"campus_id"`
	DepartmentID int64         `json:"department_id"`
}

func (s *Server) staffAuthRoutes(h func(string, handler)) {
	h("POST /api/v1/staff/login", func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Username string `json:"username"`
			Password string `json:"password"`
			Code     string `json:"code"`
		}
		if err := decode(w, r, &in); err != nil {
			return err
		}
		st, err := s.App.StaffLogin(r.Context(), Anonymous(r), in.Username, in.Password, in.Code)
		if err != nil {
			return err
		}
		return s.writeStep(w, r, st)
	})
	h("POST /api/v1/staff/second-factor", func(w http.ResponseWriter, r *http.Request) error {
		var in struct{ Challenge, Code string }
		if err := decode(w, r, &in); err != nil {
			return err
		}
		st, err := s.App.StaffSecondFactor(r.Context(), Anonymous(r), in.Challenge, in.Code)
		if err != nil {
			return err
		}
		return s.writeStep(w, r, st)
	})
	h("POST /api/v1/staff/enrol", func(w http.ResponseWriter, r *http.Request) error {
		var in struct{ Challenge string }
		if err := decode(w, r, &in); err != nil {
			return err
		}
		en, err := s.App.StaffEnrol(r.Context(), Anonymous(r), in.Challenge)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, en)
	})
	h("POST /api/v1/staff/enrol/confirm", func(w http.ResponseWriter, r *http.Request) error {
		var in struct{ Challenge, Code string }
		if err := decode(w, r, &in); err != nil {
			return err
		}
		st, err := s.App.StaffEnrolConfirm(r.Context(), Anonymous(r), in.Challenge, in.Code)
		if err != nil {
			return err
		}
		return s.writeStep(w, r, st)
	})
	h("POST /api/v1/staff/step-up", withBody(s, http.StatusOK, func(r *http.Request, a app.Actor, in struct{ Code string }) (map[string]string, error) {
		return ok, s.App.StaffStepUp(r.Context(), a, in.Code)
	}))
	h("GET /api/v1/staff/accounts", withActor(s, list("accounts", s.App.StaffAccounts)))
	h("POST /api/v1/staff/accounts", withBody(s, http.StatusCreated, func(r *http.Request, a app.Actor, in accountBody) (addedAccount, error) {
		st := fairslot.Staff{Username: in.Username, Name: in.Name, Role: in.Role, DoctorID: in.DoctorID, CampusID: in.CampusID, DepartmentID: in.DepartmentID}
		code, err := s.App.AddStaff(r.Context(), a, &st, in.Password)
		return addedAccount{Staff: st, EnrolCode: code}, err
	}))
	h("POST /api/v1/staff/accounts/{id}/reset-mfa", withID(s, s.App.ResetStaffMFA))
	h("POST /api/v1/staff/accounts/{id}/password", withBody(s, http.StatusOK, func(r *http.Request, a app.Actor, in struct{ Password string }) (map[string]string, error) {
		id, err := pathID(r)
		if err != nil {
			return nil, err
		}
		return ok, s.App.SetStaffPassword(r.Context(), a, id, in.Password)
	}))
	for _, c := range []struct {
		path   string
		change func(context.Context, app.Actor, int64) error
	}{
		{"disable", s.App.DisableStaff},
		{"enable", s.App.EnableStaff},
		{"unlock", s.App.UnlockStaff},
	} {
		h("POST /api/v1/staff/accounts/{id}/"+c.path, withID(s, func(ctx context.Context, a app.Actor, id int64) (map[string]string, error) {
			return ok, c.change(ctx, a, id)
		}))
	}
}
