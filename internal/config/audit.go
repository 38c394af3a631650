package config

import (
	"fmt"
	"net/url"
	"time"

	"github.com/fairslot/fairslot"
)

// Audit configures the tamper-evident audit log (issue 12, item 7).
type Audit struct {
	// CheckpointEvery is how often the job leader signs a checkpoint of the
	// log (and at shutdown) and pushes it to the witnesses.
	CheckpointEvery fairslot.Duration `json:"checkpoint_every"`
	// VerifyEvery is how often the leader recomputes the part of the log
	// added since it last verified, raising an ALERT on a mismatch.
	VerifyEvery fairslot.Duration `json:"verify_every"`
	// WitnessDirs get one file per checkpoint, never rewritten: put them on
	// another volume or host the database's owner cannot write (WORM).
	WitnessDirs []string `json:"witness_dirs"`
	// WitnessURLs get each checkpoint as a POST of the signed note.
	WitnessURLs []string `json:"witness_urls"`
}

func defaultAudit() Audit {
	return Audit{CheckpointEvery: fairslot.Duration(time.Minute), VerifyEvery: fairslot.Duration(5 * time.Minute)}
}

func (a Audit) validate(dataDir string) error {
	if a.CheckpointEvery < fairslot.Duration(time.Second) || a.VerifyEvery < fairslot.Duration(time.Second) {
		return fmt.Errorf("config: audit.checkpoint_every and audit.verify_every must be at least 1s")
	}
	for _, d := range a.WitnessDirs {
		in, err := Within(dataDir, d)
		if err != nil || d == "" {
			return fmt.Errorf("config: audit.witness_dirs: bad directory %q", d)
		}
		if in {
			return fmt.Errorf("config: the audit witness directory %s is inside the data directory %s: a witness must be out of the database owner's reach", d, dataDir)
		}
	}
	for _, u := range a.WitnessURLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return fmt.Errorf("config: audit.witness_urls: %q is not an http(s) URL", redactURL(u))
		}
	}
	return nil
}

func (a Audit) redacted() Audit {
	urls := make([]string, len(a.WitnessURLs))
	for i, u := range a.WitnessURLs {
		urls[i] = redactURL(u)
	}
	a.WitnessURLs = urls
	return a
}
