// Package e2e runs the fairslot binary for tests and drives its pages in
// headless Chromium. Only tests import it.
//
// It builds ./cmd/fairslot once per test process (Binary), starts demo
// servers on free ports (StartServer, SimServer) and talks to them as a
// phone or a staff member would (Server.Post, Server.Login, StaffToken,
// HeldBooking); it reads the demo's log provider for login codes and
// messages. For the browser it starts Debian's Chromium (Chromium, which
// skips the test saying why when there is none outside CI), opens tabs
// (Tab), clicks and waits (Click, Do, Value, WaitPage), and checks each
// page (Run.Page: untranslated text, axe-core, screenshot and weight in
// the test output folder, TestOut).
//
// The browser tests live in packages of their own by area, so that go test
// runs them side by side and no package nears go test's ten-minute
// deadline:
//
//	internal/e2e/journey  a whole visit per language: phone, kiosk, doctor, board (TestBrowserJourney alone)
//	internal/e2e/patient  the patient's pages on a phone: draws, waitlist and their messages, binding, form errors
//	internal/e2e/staff    the console, the doctor's room, the board, the session cancel page, the risk review
//	internal/e2e/admin    the admin pages, and the staff pages around them (sign-in, accounts, security, desk, reveal, kit)
//	internal/e2e/kiosk    the kiosk device
//
// Beside them, without a browser: internal/e2e/fhirclient runs a real FHIR
// client (fhir-kit-client, testdata/js/fhir-flow.mjs) through IHE
// Scheduling's flow against the binary's FHIR facade.
//
// A new browser test goes in the package of its area; a new area, or a
// package nearing a few minutes, gets a new package beside them, with a
// main_test.go whose TestMain calls e2e.Main. Never in cmd/fairslot, whose
// tests run the binary without a browser. A helper two of these packages
// need goes here; one a single test needs stays in its file. Each test
// calls Chromium first (it runs the test in parallel with the package's
// others and skips it without a browser), then Binary and StartServer.
package e2e
