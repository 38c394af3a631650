package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestStaffLoginThrottleOverHTTP: the sixth wrong password for a username
// in a burst answers 429 with a Retry-After, even when it is the right one;
// the API names the client's address prefix, so a burst of failures across
// usernames from one network is throttled too.
func TestStaffLoginThrottleOverHTTP(t *testing.T) {
	e := newEnv(t)
	login := func(user, password string) *http.Response {
		resp, err := http.Post(e.srv.URL+"/api/v1/staff/login", "application/json",
			strings.NewReader(`{"username":"`+user+`","password":"`+password+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 5 {
		if resp := login("desk", "not the password"); resp.StatusCode != 401 {
			t.Fatalf("wrong password %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := login("desk", "fairslot-demo")
	if secs, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 429 || secs <= 0 {
		t.Errorf("the sixth attempt in a burst: %d, Retry-After %q; want 429 with a Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var last int
	for i := range 40 {
		if last = login("nobody"+strconv.Itoa(i), "not the password").StatusCode; last == 429 {
			break
		}
	}
	if last != 429 {
		t.Errorf("40 failed logins for other names from one address: the last answered %d, want 429", last)
	}
}
