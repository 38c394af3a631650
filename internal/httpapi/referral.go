package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/referral"
)

// MaxUpload bounds a referral request's multipart body: its images (one
// more than allowed, and one oversized, are still read, so the answer can
// say which image is refused) and its fields. The whole body is parsed in
// memory — never into temporary files, where the pictures of a patient's
// condition would lie on disk unsealed.
const MaxUpload = (referral.MaxImages+1)*referral.MaxImageBytes + 64<<10

// ReadReferral reads a referral request from a multipart/form-data body:
// patient_id, doctor_id, description and up to referral.MaxImages files
// named images (empty file inputs are skipped). The pages read their form
// with it too.
func ReadReferral(w http.ResponseWriter, r *http.Request) (app.ReferralInput, error) {
	var in app.ReferralInput
	if r.MultipartForm == nil {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "multipart/form-data" {
			return in, fairslot.Errorf(fairslot.Invalid, "Content-Type must be multipart/form-data")
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxUpload)
		if err := r.ParseMultipartForm(MaxUpload); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return in, fairslot.E(fairslot.TooLarge, "error.referral.upload_large", "the pictures are larger than %d MiB in all", MaxUpload>>20)
			}
			return in, fairslot.E(fairslot.Invalid, "error.form.unreadable", "the form could not be read")
		}
	}
	form := r.MultipartForm
	var err error
	if in.PatientID, err = formInt(form.Value, "patient_id"); err != nil {
		return in, err
	}
	if in.DoctorID, err = formInt(form.Value, "doctor_id"); err != nil {
		return in, err
	}
	if v := form.Value["description"]; len(v) > 0 {
		in.Description = strings.TrimSpace(v[0])
	}
	for _, fh := range form.File["images"] {
		if fh.Size == 0 && fh.Filename == "" {
			continue // an empty file input
		}
		f, err := fh.Open()
		if err != nil {
			return in, err
		}
		data, err := io.ReadAll(io.LimitReader(f, referral.MaxImageBytes+1))
		f.Close()
		if err != nil {
			return in, err
		}
		in.Images = append(in.Images, data)
	}
	return in, nil
}

func formInt(v map[string][]string, name string) (int64, error) {
	if len(v[name]) == 0 {
		return 0, fairslot.E(fairslot.Invalid, "error.form.choose", "choose a %s", strings.ReplaceAll(name, "_", " ")).With().On(name)
	}
	id, err := strconv.ParseInt(v[name][0], 10, 64)
	if err != nil || id <= 0 {
		return 0, fairslot.E(fairslot.Invalid, "error.form.choose", "choose a %s", strings.ReplaceAll(name, "_", " ")).With().On(name)
	}
	return id, nil
}

// NoStore marks a response that holds personal data: never kept by a
// browser or a proxy, never sniffed into another type.
func NoStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
}

// ServeReferralImage writes one image of a referral request to a staff
// member who may review it (the pages serve it the same way).
func ServeReferralImage(w http.ResponseWriter, r *http.Request, a app.Actor, svc *app.Service, id int64) error {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 || n > referral.MaxImages {
		return fairslot.E(fairslot.NotFound, "error.referral.image_not_found", "no such image")
	}
	typ, data, err := svc.ReferralImage(r.Context(), a, id, n)
	if err != nil {
		return err
	}
	NoStore(w)
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Content-Disposition", "inline")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, err = w.Write(data)
	return err
}

func (s *Server) referralPatientRoutes(h func(string, handler)) {
	h("GET /api/v1/referrals", withActor(s, list("referrals", s.App.Referrals)))
	h("POST /api/v1/referrals", func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		in, err := ReadReferral(w, r)
		if err != nil {
			return err
		}
		if err := s.LimitPatient(r.Context(), in.PatientID); err != nil {
			return err
		}
		v, err := s.App.SubmitReferral(r.Context(), a, in)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, v)
	})
	h("GET /api/v1/doctors/{id}/referral", withID(s, s.App.ReferralNeed))
}

func (s *Server) referralStaffRoutes(h func(string, handler)) {
	h("GET /api/v1/staff/referrals", func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		q, err := s.App.ReferralQueue(r.Context(), a)
		if err != nil {
			return err
		}
		if q == nil {
			q = []app.ReferralView{}
		}
		NoStore(w)
		return writeJSON(w, http.StatusOK, map[string][]app.ReferralView{"referrals": q})
	})
	h("GET /api/v1/staff/referrals/{id}/images/{n}", func(w http.ResponseWriter, r *http.Request) error {
		a, err := s.actor(r)
		if err != nil {
			return err
		}
		id, err := pathID(r)
		if err != nil {
			return err
		}
		return ServeReferralImage(w, r, a, s.App, id)
	})
	h("POST /api/v1/staff/referrals/{id}/decision", withBody(s, http.StatusOK, func(r *http.Request, a app.Actor, in app.DecisionInput) (app.ReferralView, error) {
		id, err := pathID(r)
		if err != nil {
			return app.ReferralView{}, err
		}
		return s.App.DecideReferral(r.Context(), a, id, in)
	}))
	h("GET /api/v1/staff/referral-rules", withActor(s, list("rules", s.App.ReferralRules)))
	h("POST /api/v1/staff/referral-rules", withBody(s, http.StatusOK, func(r *http.Request, a app.Actor, in app.ReferralRuleInput) (map[string]string, error) {
		return map[string]string{"status": "saved"}, s.App.PutReferralRule(r.Context(), a, in)
	}))
}
