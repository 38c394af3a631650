package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fairslot/fairslot/internal/apiclient"
	"github.com/fairslot/fairslot/internal/demo"
)

// TestStaffCommands: the first admin is made from the command line with
// the password on standard input (never a flag), and each subcommand works
// on the configured database.
func TestStaffCommands(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keys.json")}
	if err := run(context.Background(), append([]string{"migrate"}, flags...), new(bytes.Buffer), new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	staff := func(input string, args ...string) (string, error) {
		t.Helper()
		stdin = strings.NewReader(input)
		t.Cleanup(func() { stdin = nil })
		var out, errOut bytes.Buffer
		a := append([]string{"staff", args[0]}, flags...)
		err := run(context.Background(), append(a, args[1:]...), &out, &errOut)
		return out.String(), err
	}
	const pw = "lantern orbit pickle fjord\n"
	for _, c := range []struct {
		input   string
		args    []string
		wantErr string
		out     string
	}{
		{"", []string{"add", "--role", "admin", "--name", "Boss", "boss"}, "no password on standard input", ""},
		{"Password1234\n", []string{"add", "--role", "admin", "--name", "Boss", "boss"}, "choose a password of at least 12", ""},
		{"fairslot-demo\n", []string{"add", "--role", "admin", "--name", "Boss", "boss"}, "choose a password", ""},
		{pw, []string{"add", "--role", "wizard", "--name", "Boss", "boss"}, "unknown role", ""},
		{pw, []string{"add", "--role", "admin", "--name", "Boss", "boss"}, "", "added boss"},
		{pw, []string{"add", "--role", "nurse", "--name", "Nurse", "nurse2"}, "", "enrolment code: "},
		{"", []string{"list"}, "", "not enrolled (code until "},
		{pw, []string{"add", "--role", "admin", "--name", "Boss", "boss"}, "exists", ""},
		{pw, []string{"add", "--role", "security", "--name", "Sec", "sec"}, "", "added sec"},
		{"", []string{"list"}, "", "boss"},
		{"", []string{"disable", "boss"}, "", "boss: disabled"},
		{"", []string{"list"}, "", "disabled"},
		{"", []string{"enable", "boss"}, "", "boss: enabled"},
		{"", []string{"unlock", "sec"}, "", "sec: unlocked"},
		{"", []string{"reset-mfa", "sec"}, "", "sec: second factor reset"},
		{"", []string{"reset-mfa", "sec"}, "", "enrolment code: "},
		{"quartz meadow violin ember\n", []string{"passwd", "boss"}, "", "boss: new password set"},
		{"short\n", []string{"passwd", "boss"}, "choose a password", ""},
		{"", []string{"disable", "nobody"}, "not found", ""},
		{"", []string{"fly"}, "unknown staff command", ""},
	} {
		out, err := staff(c.input, c.args...)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("staff %v = %v, want an error with %q", c.args, err, c.wantErr)
			}
			continue
		}
		if err != nil || !strings.Contains(out, c.out) {
			t.Errorf("staff %v = %v, %q; want output with %q", c.args, err, out, c.out)
		}
	}
	if err := run(context.Background(), []string{"staff"}, new(bytes.Buffer), new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "add|") {
		t.Errorf("staff with no subcommand = %v, want the usage", err)
	}
}

// TestDemoPasswordOnlyWithDemoFlag: a database the demo seeded, served
// again without --demo, refuses the published password for every demo
// account — with the message an unknown user gets.
func TestDemoPasswordOnlyWithDemoFlag(t *testing.T) {
	dir := t.TempDir()
	flags := []string{"--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--keyset", filepath.Join(dir, "keys.json"), "--drain", "10ms"}
	serve := func(args ...string) (string, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		url, done, _ := serveInProcess(t, ctx, args...)
		return url, func() { cancel(); <-done }
	}
	login := func(base, user, pw string) (int, string) {
		resp, err := (&apiclient.Client{Base: base}).Do(context.Background(), "POST", "/api/v1/staff/login",
			map[string]string{"username": user, "password": pw}, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Token string                   `json:"token"`
			Error struct{ Message string } `json:"error"`
		}
		resp.Decode(&body)
		if body.Token != "" {
			return resp.Status, "token"
		}
		return resp.Status, body.Error.Message
	}
	url, stop := serve(append([]string{"--demo"}, flags...)...)
	if code, got := login(url, "desk", demo.Password); code != 200 || got != "token" {
		t.Fatalf("demo login with --demo = %d %s", code, got)
	}
	stop()
	url, stop = serve(flags...)
	defer stop()
	_, unknown := login(url, "nobody", "whatever it is")
	for _, s := range demo.Staff {
		if code, got := login(url, s.Username, demo.Password); code != 401 || got != unknown {
			t.Errorf("%s with the demo password without --demo = %d %q; want 401 %q", s.Username, code, got, unknown)
		}
	}
}
