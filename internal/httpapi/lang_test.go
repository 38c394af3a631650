package httpapi

import (
	"net/http/httptest"
	"testing"
)

// The request's language for messages: one of the message languages, or
// none (the caller then decides).
func TestMessageLang(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "fr-FR": "", "garbage;;q=x": "", "vi-VN,vi;q=0.9": "vi", "zh-CN,zh;q=0.9,en;q=0.8": "zh-CN",
		"en-US,en;q=0.9": "en", "fr;q=1, vi;q=0.5": "vi", "zh": "zh-CN",
	} {
		r := httptest.NewRequest("POST", "/api/v1/auth/code", nil)
		if in != "" {
			r.Header.Set("Accept-Language", in)
		}
		if got := messageLang(r); got != want {
			t.Errorf("Accept-Language %q: %q, want %q", in, got, want)
		}
	}
}
