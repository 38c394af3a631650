package storage

import (
	"context"
	"time"

	"github.com/fairslot/fairslot/internal/referral"
)

// Referral is a patient's request for review before they may enter or book
// a doctor who needs it (issue 17 item 4), as stored: its description,
// reason and screener note sealed under the row's Ref.
type Referral struct {
	ID                int64
	Ref               string
	AccountID         int64
	PatientID         int64
	DoctorID          int64
	DescriptionSealed []byte
	Status            referral.Status
	// ForSessionID is the release the request was made for (0: none was
	// planned), Shuts when that release shuts, DecideBy when it must be
	// decided by.
	ForSessionID int64
	Shuts        time.Time
	DecideBy     time.Time
	DecidedBy    int64 // staff; 0 while pending and when it expired
	DecidedAt    time.Time
	ReasonSealed []byte
	// RedirectDepartmentID is the general clinic a redirected request
	// sends the patient to.
	RedirectDepartmentID int64
	ValidUntil           time.Time
	Screened             bool
	ScreenScore          float64
	ScreenLabel          string
	ScreenNoteSealed     []byte
	CreatedAt            time.Time
	Images               int // how many images it has (read only)
}

// ReferralImage is one of a request's images, sealed under its Ref.
type ReferralImage struct {
	ID            int64
	Ref           string
	ReferralID    int64
	N             int // 1..3
	Type          string
	Width, Height int
	DataSealed    []byte // nil in listings: ReferralImage reads it
	CreatedAt     time.Time
}

// ReferralDecision is a pending request's outcome.
type ReferralDecision struct {
	ID                   int64
	Status               referral.Status
	StaffID              int64 // 0 for an expiry
	At                   time.Time
	ReasonSealed         []byte
	RedirectDepartmentID int64
	ValidUntil           time.Time
}

// ReferralQueue selects pending requests for a clinician: of one doctor,
// or of the doctors of one department, or (both 0) all.
type ReferralQueue struct {
	DoctorID, DepartmentID int64
	Limit                  int
}

// Referrals is referral review's storage. The database keeps one pending
// request per patient and doctor (InsertReferral: Conflict), decides a
// request only from pending and once (DecideReferral: Conflict), keeps
// each outcome with what it needs, and at most 3 images per request, none
// ever changed or removed.
type Referrals interface {
	// ReferralRules lists the current rule of each doctor and department
	// (the latest row for each).
	ReferralRules(ctx context.Context) ([]referral.Rule, error)
	PutReferralRule(ctx context.Context, r referral.Rule, staffID int64, at time.Time) error
	InsertReferral(ctx context.Context, r *Referral) error
	Referral(ctx context.Context, id int64) (Referral, error)
	// ReferralsOf lists an account's requests, newest first.
	ReferralsOf(ctx context.Context, accountID int64) ([]Referral, error)
	// PatientReferrals lists a patient's requests for a doctor, newest first.
	PatientReferrals(ctx context.Context, patientID, doctorID int64) ([]Referral, error)
	// PendingReferrals lists pending requests as q selects them, the
	// nearest deadline first.
	PendingReferrals(ctx context.Context, q ReferralQueue) ([]Referral, error)
	// DueReferrals lists up to limit pending requests whose deadline is at
	// or before now.
	DueReferrals(ctx context.Context, now time.Time, limit int) ([]Referral, error)
	// UnscreenedReferrals lists up to limit pending requests no screener
	// has seen, oldest first.
	UnscreenedReferrals(ctx context.Context, limit int) ([]Referral, error)
	DecideReferral(ctx context.Context, d ReferralDecision) error
	// ScreenReferral stores a pending request's screener suggestion, once:
	// a Conflict when it was screened or decided meanwhile.
	ScreenReferral(ctx context.Context, id int64, s referral.Suggestion, noteSealed []byte) error
	// InsertReferralImage stores an image (setting its ID): a Conflict
	// when the request has an image numbered N.
	InsertReferralImage(ctx context.Context, img *ReferralImage) error
	// ReferralImages lists a request's images without their data, by N.
	ReferralImages(ctx context.Context, referralID int64) ([]ReferralImage, error)
	// ReferralImage reads one image with its sealed data.
	ReferralImage(ctx context.Context, referralID int64, n int) (ReferralImage, error)
}
