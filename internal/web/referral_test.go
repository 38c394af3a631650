package web_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/referral/referraltest"
	"github.com/fairslot/fairslot/internal/storage"
	"github.com/fairslot/fairslot/internal/web"
)

// upload posts a multipart form with the page's token, as a browser's
// form with enctype="multipart/form-data" does.
func (b *browser) upload(path string, fields map[string]string, images ...[]byte) (int, string, string, http.Header) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", b.csrf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for i, img := range images {
		fw, _ := mw.CreateFormFile("images", fmt.Sprintf("IMG_%04d.JPG", i))
		fw.Write(img)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", b.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(out), resp.Header
}

// TestReferralPages (in the demo's default language, zh-CN): a patient asks for review on the form with a picture
// (a refused picture keeps what they wrote), sees where it stands; the
// doctor's queue shows the description and the picture (never cached,
// not to the desk), and approving it lets the patient in.
func TestReferralPages(t *testing.T) {
	e := newEnv(t)
	var doctorID int64
	err := e.svc.Store.View(ctx, func(tx storage.Tx) error {
		dr, _, err := tx.StaffByUsername(ctx, demo.DemoDoctor)
		doctorID = dr.DoctorID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var admin app.Actor
	e.svc.Store.View(ctx, func(tx storage.Tx) error {
		st, _, err := tx.StaffByUsername(ctx, "admin")
		admin = app.Actor{Kind: storage.StaffToken, ID: st.ID, Role: fairslot.Admin}
		return err
	})
	if err := e.svc.PutReferralRule(ctx, admin, app.ReferralRuleInput{DoctorID: doctorID, Required: true}); err != nil {
		t.Fatal(err)
	}
	b, patient := e.patientOf(t, "13977770001", "李四", 41)
	status, page := b.get(fmt.Sprintf("/me/referrals?doctor=%d", doctorID))
	if status != 200 || !strings.Contains(page, `enctype="multipart/form-data"`) || !strings.Contains(page, fmt.Sprintf(`value="%d" selected`, doctorID)) {
		t.Fatalf("the form: %d\n%s", status, page)
	}
	fields := map[string]string{"patient_id": patient, "doctor_id": fmt.Sprint(doctorID), "description": "High fever for ten days, rash on the chest."}
	status, _, page, _ = b.upload("/me/referrals", fields, []byte("%PDF-1.7 not a picture"))
	if status != 400 || !strings.Contains(page, "不是支持的图片格式") || !strings.Contains(page, "rash on the chest") {
		t.Errorf("a refused picture: %d, want the form again with the error and the description\n%s", status, page)
	}
	status, loc, page, _ := b.upload("/me/referrals", fields, referraltest.JPEGWithEXIF(t))
	if status != 303 || loc != "/me/referrals" {
		t.Fatalf("submit: %d %s\n%s", status, loc, page)
	}
	if _, page := b.get("/me/referrals"); !strings.Contains(page, "审核中") {
		t.Errorf("the patient's page does not show the request\n%s", page)
	}

	desk := e.staffBrowser(t, e.internal, "desk")
	if status, _ := desk.get("/staff/referrals"); status != 403 {
		t.Errorf("the desk's look at the queue: %d, want 403", status)
	}
	doc := e.staffBrowser(t, e.internal, demo.DemoDoctor)
	resp, err := doc.c.Get(doc.base + "/staff/referrals")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	queue := string(raw)
	if resp.StatusCode != 200 || !strings.Contains(queue, "rash on the chest") || !strings.Contains(queue, "/images/1") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("the doctor's queue: %d %v\n%s", resp.StatusCode, resp.Header, queue)
	}
	doc.get("/staff/referrals") // the form token
	var id int64
	fmt.Sscanf(queue[strings.Index(queue, `id="referral-`)+len(`id="referral-`):], "%d", &id)
	img, err := doc.c.Get(fmt.Sprintf("%s/staff/referrals/%d/images/1", doc.base, id))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(img.Body)
	img.Body.Close()
	if img.StatusCode != 200 || img.Header.Get("Content-Type") != "image/jpeg" || img.Header.Get("Cache-Control") != "no-store" ||
		bytes.Contains(data, []byte(referraltest.GPSMarker)) {
		t.Errorf("the picture: %d %v", img.StatusCode, img.Header)
	}
	if status, _ := desk.get(fmt.Sprintf("/staff/referrals/%d/images/1", id)); status != 403 {
		t.Errorf("the desk's look at the picture: %d, want 403", status)
	}
	action := fmt.Sprintf("/staff/referrals/%d/decide", id)
	if status, _, page := doc.post(action, url.Values{"decision": {"declined"}}); status != 400 || !strings.Contains(page, "请填写给患者的原因") {
		t.Errorf("a decline without a reason: %d\n%s", status, page)
	}
	if status, loc, page := doc.post(action, url.Values{"decision": {"approved"}}); status != 303 || loc != "/staff/referrals" {
		t.Fatalf("approve: %d %s\n%s", status, loc, page)
	}
	if _, page := b.get("/me/referrals"); !strings.Contains(page, "已通过") || !strings.Contains(page, "前可参加抽签或预约") {
		t.Errorf("the patient's page after approval\n%s", page)
	}
}

// countingReader counts what is read of a request's body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// TestSignedOutUploadIsNotRead: a picture form from no one signed in is
// refused before a byte of its body is read. The body is parsed whole in
// memory (up to httpapi.MaxUpload), so reading it before the login would let
// anyone make the server hold that much a request.
func TestSignedOutUploadIsNotRead(t *testing.T) {
	e := newEnv(t)
	h, err := e.pages.Handler(frontdoor.SingleListener)
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed form with an 8 MiB picture: a parser reads it all.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("description", "High fever for ten days, rash on the chest.")
	fw, _ := mw.CreateFormFile("images", "IMG_0001.JPG")
	fw.Write(make([]byte, 8<<20))
	mw.Close()
	for _, cookie := range []string{"", web.SessionCookie + "=forged", web.RefreshCookie + "=forged"} {
		body := &countingReader{r: bytes.NewReader(form.Bytes())}
		req := httptest.NewRequest("POST", "/me/referrals", body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if body.n != 0 || w.Code < 300 {
			t.Errorf("cookie %q: %d after reading %d bytes of the body, want a refusal before reading any", cookie, w.Code, body.n)
		}
	}
}
