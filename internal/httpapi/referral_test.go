package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/referral/referraltest"
	"github.com/fairslot/fairslot/internal/storage"
)

// upload posts a referral request as a browser's form would.
func (e *env) upload(t *testing.T, tok string, fields map[string]string, images ...[]byte) (int, map[string]any) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for i, img := range images {
		fw, _ := mw.CreateFormFile("images", fmt.Sprintf("photo%d.jpg", i+1))
		fw.Write(img)
	}
	mw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/referrals", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func errKey(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	k, _ := e["key"].(string)
	return k
}

// TestReferralAPI: over the API, a doctor who needs review refuses the
// patient's hold and draw entry until a request is approved; uploads are
// checked (size, type, count, a decompression bomb) with keyed errors; the
// doctor's queue and images are served only to them, never cached; approve
// lets the patient book.
func TestReferralAPI(t *testing.T) {
	e := newEnv(t)
	var doctorID, sessionID int64
	e.store.View(ctx, func(tx storage.Tx) error {
		st, _, err := tx.StaffByUsername(ctx, demo.DemoDoctor)
		if err != nil {
			return err
		}
		doctorID = st.DoctorID
		ss, err := tx.Sessions(ctx, storage.SessionFilter{DoctorID: doctorID, From: "2026-12-10", To: "2026-12-10"})
		for _, s := range ss {
			if s.Start.After(e.clock.Now().Add(time.Hour)) {
				sessionID = s.ID
			}
		}
		return err
	})
	if sessionID == 0 {
		t.Fatal("the demo doctor has no session later today")
	}
	admin, doctor, desk := e.staffToken(t, "admin"), e.staffToken(t, demo.DemoDoctor), e.staffToken(t, "desk")
	tok := e.patientToken(t, demo.PatientPhone)

	if code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/referral-rules", token: doctor, body: fmt.Sprintf(`{"doctor_id":%d,"required":true}`, doctorID)}); code != 403 {
		t.Errorf("a doctor setting a rule = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/staff/referral-rules", token: admin, body: fmt.Sprintf(`{"doctor_id":%d,"required":true}`, doctorID)}); code != 200 {
		t.Fatalf("rule = %d %v", code, body)
	}
	hold := fmt.Sprintf(`{"session_id":%d,"patient_id":1}`, sessionID)
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings", token: tok, body: hold}); code != 403 || errKey(body) != "error.referral.required" {
		t.Fatalf("an unreviewed hold = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "GET", path: fmt.Sprintf("/api/v1/doctors/%d/referral", doctorID), token: tok}); code != 200 || body["required"] != true {
		t.Errorf("referral need = %d %v", code, body)
	}

	fields := map[string]string{"patient_id": "1", "doctor_id": fmt.Sprint(doctorID), "description": "A fever for ten days that does not go down."}
	png := referraltest.PNG(t, 16, 16)
	for _, tt := range []struct {
		name   string
		images [][]byte
		key    string
		status int
	}{
		{"oversized", [][]byte{append(bytes.Clone(png), make([]byte, 5<<20)...)}, "error.referral.image_large", 400},
		{"wrong type", [][]byte{[]byte("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")}, "error.referral.image_type", 400},
		{"too many", [][]byte{png, png, png, png}, "error.referral.images_many", 400},
		{"bomb", [][]byte{referraltest.PNGBomb(t, 40000, 40000)}, "error.referral.image_pixels", 400},
	} {
		code, body := e.upload(t, tok, fields, tt.images...)
		if code != tt.status || errKey(body) != tt.key {
			t.Errorf("%s: %d %v, want %d %s", tt.name, code, body, tt.status, tt.key)
		}
	}
	code, body := e.upload(t, tok, fields, referraltest.JPEGWithEXIF(t), png)
	if code != 201 || body["status"] != "pending" || body["images"] != float64(2) {
		t.Fatalf("submit = %d %v", code, body)
	}
	id := int64(body["id"].(float64))
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings", token: tok, body: hold}); code != 403 || errKey(body) != "error.referral.waiting" {
		t.Errorf("a hold while reviewed = %d %v", code, body)
	}

	// The queue and images: the doctor's, never cached; not the desk's nor the patient's.
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/staff/referrals", nil)
	req.Header.Set("Authorization", "Bearer "+doctor)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "ten days") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("queue = %d %s (Cache-Control %q)", resp.StatusCode, raw, resp.Header.Get("Cache-Control"))
	}
	imgPath := fmt.Sprintf("/api/v1/staff/referrals/%d/images/1", id)
	for _, who := range []struct {
		name, tok string
		want      int
	}{{"doctor", doctor, 200}, {"desk", desk, 403}, {"patient", tok, 401}, {"nobody", "", 401}} {
		req, _ := http.NewRequest("GET", e.srv.URL+imgPath, nil)
		if who.tok != "" {
			req.Header.Set("Authorization", "Bearer "+who.tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != who.want && !(who.want == 401 && resp.StatusCode == 403) {
			t.Errorf("%s's look at an image = %d, want %d", who.name, resp.StatusCode, who.want)
		}
		if who.want == 200 {
			if resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("Cache-Control") != "no-store" ||
				resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("image headers %v", resp.Header)
			}
			if bytes.Contains(data, []byte(referraltest.GPSMarker)) || !bytes.HasPrefix(data, []byte{0xFF, 0xD8}) {
				t.Error("the image served is not the cleaned JPEG")
			}
		}
	}
	if code, _ := e.do(t, call{method: "GET", path: fmt.Sprintf("/api/v1/staff/referrals/%d/images/4", id), token: doctor}); code != 404 {
		t.Errorf("image 4 = %d, want 404", code)
	}

	dec := fmt.Sprintf("/api/v1/staff/referrals/%d/decision", id)
	if code, body := e.do(t, call{method: "POST", path: dec, token: desk, body: `{"decision":"approved"}`}); code != 403 {
		t.Errorf("the desk deciding = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: dec, token: doctor, body: `{"decision":"declined"}`}); code != 400 || errKey(body) != "error.referral.reason_required" {
		t.Errorf("a decline without reason = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: dec, token: doctor, body: `{"decision":"approved"}`}); code != 200 || body["status"] != "approved" {
		t.Fatalf("approve = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "POST", path: "/api/v1/bookings", token: tok, body: hold}); code != 201 {
		t.Errorf("an approved hold = %d %v", code, body)
	}
	if code, body := e.do(t, call{method: "GET", path: "/api/v1/referrals", token: tok}); code != 200 || len(body["referrals"].([]any)) != 1 {
		t.Errorf("own requests = %d %v", code, body)
	}
}
