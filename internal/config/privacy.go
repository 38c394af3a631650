package config

import (
	"fmt"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/privacy"
)

// Privacy is the privacy section (issue 13 item 8): the notice version in
// force (a new version asks every account again), how long a patient's
// personal fields are kept after their last activity, and how often the
// job leader applies that.
type Privacy struct {
	// NoticeVersion: "" is privacy.NoticeVersion, the version of the text
	// in the pages' catalogue; set it when the hospital changes that text.
	NoticeVersion string `json:"notice_version"`
	// Retention: default three years (privacy.DefaultRetention), at least
	// privacy.MinRetention.
	Retention fairslot.Duration `json:"retention"`
	// PurgeEvery is how often the job leader runs the retention purge
	// (default 24h; 0 in a file is the default).
	PurgeEvery fairslot.Duration `json:"purge_every"`
}

func defaultPrivacy() Privacy {
	return Privacy{NoticeVersion: privacy.NoticeVersion, Retention: fairslot.Duration(privacy.DefaultRetention),
		PurgeEvery: fairslot.Duration(24 * time.Hour)}
}

// Policy returns the rules' configuration.
func (p Privacy) Policy() privacy.Policy {
	return privacy.Policy{NoticeVersion: p.NoticeVersion, Retention: time.Duration(p.Retention)}
}

func (p Privacy) validate() error {
	if err := p.Policy().Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if p.PurgeEvery < 0 || (p.PurgeEvery > 0 && time.Duration(p.PurgeEvery) < time.Minute) {
		return fmt.Errorf("config: privacy.purge_every: at least 1m")
	}
	return nil
}
