package patient

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fairslot/fairslot/internal/e2e"
	"github.com/fairslot/fairslot/internal/privacy"
	"github.com/fairslot/fairslot/internal/vault"
)

// TestBrowserBindingNeedsProof (issue 13 item 1): on a phone, in each
// language, a stranger who knows a patient's name and ID number and adds
// them to their own account is taken to the proof step; a wrong code shows
// the one failure inline with the tries left, and the patient is not
// theirs; the code sent to the phone on record — the holder's, read from
// the demo's log provider — binds them; the holder is told.
func TestBrowserBindingNeedsProof(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a browser")
	}
	browser := e2e.Chromium(t)
	s := e2e.StartServer(t, e2e.Binary(t), t.TempDir(), nil)
	b := newRun(t, s)
	for i, lang := range []string{"zh-CN", "vi", "en"} {
		t.Run(lang, func(t *testing.T) { b.bindingByStranger(t, browser, lang, i) })
	}
}

// patientLogin logs a phone-sized tab in as phone, in lang.
func (b *run) patientLogin(t *testing.T, ctx context.Context, lang, phone string) {
	t.Helper()
	e2e.Do(t, ctx, "open the login page", chromedp.Navigate(b.S.URL+"/login"),
		e2e.Click(`form.lang button[value="`+lang+`"]`, `html[lang="`+lang+`"] #phone`))
	e2e.Do(t, ctx, "ask for a code", chromedp.SendKeys(chromedp.CSS("#phone"), phone),
		e2e.Click(`form[action="/login/code"] button`, "#code"))
	e2e.Do(t, ctx, "log in", chromedp.SendKeys(chromedp.CSS("#code"), b.LoginCode(t, phone)),
		e2e.Click(`form[action="/login"] button`, "body.page-me, body.page-consent"))
	e2e.PastConsent(t, ctx)
}

// bindOverAPI logs phone in over the API and binds a new identity to it.
func (b *run) bindOverAPI(t *testing.T, phone, name, id string) {
	t.Helper()
	post := func(path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", b.S.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, out := post("/api/v1/auth/code", "", `{"phone":"`+phone+`"}`); code != 202 {
		t.Fatalf("the holder's code: %d %v", code, out)
	}
	code, out := post("/api/v1/auth/login", "", `{"phone":"`+phone+`","code":"`+b.LoginCode(t, phone)+`"}`)
	token, _ := out["token"].(string)
	if code != 200 || token == "" {
		t.Fatalf("the holder's login: %d %v", code, out)
	}
	if code, out := post("/api/v1/privacy/consent", token, `{"version":"`+privacy.NoticeVersion+`","lang":"zh-CN"}`); code != 201 {
		t.Fatalf("the holder's consent to the privacy notice: %d %v", code, out)
	}
	if code, out := post("/api/v1/patients", token, `{"name":"`+name+`","id_type":"cn_resident","id_number":"`+id+`"}`); code != 201 {
		t.Fatalf("the holder binds: %d %v", code, out)
	}
}

// addPatient fills the add-patient form on /me and sends it, waiting for a
// page with want.
func addPatient(t *testing.T, ctx context.Context, name, id, want string) {
	t.Helper()
	e2e.Do(t, ctx, "add a patient", chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SetValue(chromedp.CSS("#id_type"), "cn_resident"), chromedp.SendKeys(chromedp.CSS("#id_number"), id),
		e2e.Click(`form[action="/me/patients"] button`, want))
}

func (b *run) bindingByStranger(t *testing.T, browser context.Context, lang string, n int) {
	holder, stranger := fmt.Sprintf("1371234%04d", 5000+n), fmt.Sprintf("1365678%04d", 7000+n)
	id := e2e.ResidentID(950 + n)
	name := "陈" + []string{"一", "二", "三"}[n]

	// The holder binds the identity first, over the API (the browser's
	// part is the stranger's).
	b.bindOverAPI(t, holder, name, id)

	strangerTab := e2e.Tab(t, browser, 390, 844, true)
	b.patientLogin(t, strangerTab, lang, stranger)
	addPatient(t, strangerTab, name, id, "body.page-bindproof #code")
	b.Page(t, strangerTab, lang, "portal-bindproof", true)
	text := e2e.Value(t, strangerTab, "the proof page", chromedp.Text(chromedp.CSS("main")))
	if strings.Contains(text, holder[7:]) || strings.Contains(text, vault.MaskPhone(holder)) {
		t.Errorf("the proof page shows the phone on record:\n%s", text)
	}
	codeRE := regexp.MustCompile(`to=` + regexp.QuoteMeta(vault.MaskPhone(holder)) + ` text="Someone asks to add \S+ as a patient to their fairslot account\. If it is you or your family, the code is (\d{6})`)
	code := b.S.Logged(t, "the binding code sent to the holder", codeRE, 0)
	if strings.Contains(b.S.Log(), `to=`+vault.MaskPhone(stranger)+` text="Someone asks to add`) {
		t.Error("a binding code went to the stranger's phone")
	}

	// Without the code: a wrong one is refused inline, tries left shown,
	// and the patient is not the stranger's.
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	e2e.Do(t, strangerTab, "a wrong code", chromedp.SendKeys(chromedp.CSS("#code"), wrong),
		e2e.Click(`form[action="/me/patients/proof"] button`, "body.page-bindproof #code-error"))
	b.Page(t, strangerTab, lang, "portal-bindproof-failed", true)
	failed := e2e.Value(t, strangerTab, "the inline error", chromedp.Text(chromedp.CSS("#code-error")))
	if want := strings.Replace(b.Cat[lang]["binding.failed"], "%d", "3", 1); failed != want {
		t.Errorf("the inline error: %q, want %q", failed, want)
	}
	e2e.Do(t, strangerTab, "the stranger's patients", chromedp.Navigate(b.S.URL+"/me"), chromedp.WaitVisible(chromedp.CSS("body.page-me")))
	if text := e2e.Value(t, strangerTab, "patients", chromedp.Text(chromedp.CSS("main"))); strings.Contains(text, "陈*") {
		t.Fatalf("the stranger holds the patient without the code:\n%s", text)
	}

	// With the code (the holder handed it over): bound.
	addPatient(t, strangerTab, name, id, "body.page-bindproof #code")
	// The outbox sends it after the page answers: wait for the second.
	code = b.S.Logged(t, "the second binding code", codeRE, 1)
	e2e.Do(t, strangerTab, "the right code", chromedp.SendKeys(chromedp.CSS("#code"), code),
		e2e.Click(`form[action="/me/patients/proof"] button`, "body.page-me"))
	if text := e2e.Value(t, strangerTab, "patients", chromedp.Text(chromedp.CSS("main"))); !strings.Contains(text, "陈*") {
		t.Fatalf("the patient is not bound with the code:\n%s", text)
	}
	// The holder is told, through the outbox's log provider.
	b.S.Logged(t, "the holder told", regexp.MustCompile(`to=`+regexp.QuoteMeta(vault.MaskPhone(holder))+` text="(陈\* was added as a patient to another fairslot account)`), 0)
}
