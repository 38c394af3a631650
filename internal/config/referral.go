package config

import (
	"fmt"
	"net/url"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/referral"
)

// ReferralConfig is referral review's timing and its screener (issue 17
// item 4). Which doctors need review is not here: admins set it in the app
// (it is stored, audited, and changes with the season); the file holds
// what the hospital's rules of the process are. Zero durations take the
// defaults of internal/referral.
type ReferralConfig struct {
	// Validity is how long an approval lets a patient enter or book
	// (default 30 days; a doctor's or department's rule may say otherwise).
	Validity fairslot.Duration `json:"validity"`
	// MinReview is the least time clinicians get: a request made later
	// than MinReview+Margin before a release shuts is for the next one.
	MinReview fairslot.Duration `json:"min_review"`
	// Margin is how long before a release shuts a decision is due, so an
	// approved patient still has time to enter.
	Margin fairslot.Duration `json:"margin"`
	// NoRelease is the time to decide a request when no release is planned.
	NoRelease fairslot.Duration `json:"no_release"`
	// AdmitUndecided lets a patient whose request nobody decided by its
	// deadline into the release they applied for (off: they apply again).
	AdmitUndecided bool `json:"admit_undecided"`
	// ScreenerURL is the hospital's triage service (empty: none); it gets
	// each request's description (never the patient's name, ID or images)
	// and suggests an order for the queue, never a decision.
	ScreenerURL string `json:"screener_url"`
	// ScreenerToken is sent as a bearer token (FAIRSLOT_REFERRAL_SCREENER_TOKEN).
	ScreenerToken   string            `json:"screener_token"`
	ScreenerTimeout fairslot.Duration `json:"screener_timeout"`
}

// Policy is the timing as referral's rules take it.
func (r ReferralConfig) Policy() referral.Policy {
	return referral.Policy{Validity: time.Duration(r.Validity), MinReview: time.Duration(r.MinReview),
		Margin: time.Duration(r.Margin), NoRelease: time.Duration(r.NoRelease), AdmitUndecided: r.AdmitUndecided}
}

func (r ReferralConfig) validate() error {
	if r.Validity < 0 || r.MinReview < 0 || r.Margin < 0 || r.NoRelease < 0 || r.ScreenerTimeout < 0 {
		return fmt.Errorf("config: referral durations must not be negative")
	}
	if time.Duration(r.Validity) > referral.MaxValidity {
		return fmt.Errorf("config: referral.validity must be at most %d days", int(referral.MaxValidity/(24*time.Hour)))
	}
	if r.ScreenerURL != "" {
		u, err := url.Parse(r.ScreenerURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("config: referral.screener_url must be an http(s) URL")
		}
	}
	return nil
}

func (r ReferralConfig) redacted() ReferralConfig {
	if r.ScreenerToken != "" {
		r.ScreenerToken = "REDACTED"
	}
	return r
}
