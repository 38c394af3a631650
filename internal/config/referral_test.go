package config

import (
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
)

func TestReferralConfig(t *testing.T) {
	tests := []struct {
		r  ReferralConfig
		ok bool
	}{
		{ReferralConfig{}, true},
		{ReferralConfig{ScreenerURL: "https://triage.hospital.example/screen", ScreenerToken: "s3cret"}, true},
		{ReferralConfig{ScreenerURL: "file:///etc/passwd"}, false},
		{ReferralConfig{ScreenerURL: "https://"}, false},
		{ReferralConfig{Validity: fairslot.Duration(-time.Hour)}, false},
		{ReferralConfig{Validity: fairslot.Duration(365 * 24 * time.Hour)}, false},
	}
	for _, tt := range tests {
		if err := tt.r.validate(); (err == nil) != tt.ok {
			t.Errorf("validate(%+v) = %v, want ok %v", tt.r, err, tt.ok)
		}
	}
	c, err := Load("", func(k string) string {
		if k == "FAIRSLOT_REFERRAL_SCREENER_TOKEN" {
			return "tok-from-env"
		}
		return ""
	})
	if err != nil || c.Referral.ScreenerToken != "tok-from-env" {
		t.Fatalf("the token from the environment: %q, %v", c.Referral.ScreenerToken, err)
	}
	if strings.Contains(string(c.JSON()), "tok-from-env") {
		t.Error("the printed configuration shows the screener's token")
	}
	if p := (ReferralConfig{Validity: fairslot.Duration(48 * time.Hour)}).Policy(); p.Validity != 48*time.Hour {
		t.Errorf("Policy = %+v", p)
	}
}
