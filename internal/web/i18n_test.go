package web

import (
	"io/fs"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/fairslot/fairslot"
)

// TestCatalogueCoversThePages checks that every key a template names, and
// every key a template builds from a domain value (a status, an error kind),
// is in the catalogue, which loadCatalogue has already checked is complete
// in every language.
func TestCatalogueCoversThePages(t *testing.T) {
	cat, _, err := parse(embedded, Hospital{})
	if err != nil {
		t.Fatal(err)
	}
	has := func(k string) bool { _, ok := slices.BinarySearch(cat.keys, k); return ok }
	files, _ := fs.Glob(embedded, "templates/*.html")
	partials, _ := fs.Glob(embedded, "templates/partials/*.html")
	files = append(files, partials...)
	literal := regexp.MustCompile(`\.T "([^"]+)"`)
	for _, f := range files {
		b, _ := fs.ReadFile(embedded, f)
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			if !has(m[1]) {
				t.Errorf("%s uses %q, which is not in the catalogue", f, m[1])
			}
		}
	}
	var dynamic []string
	add := func(prefix string, vs ...string) {
		for _, v := range vs {
			dynamic = append(dynamic, prefix+"."+v)
		}
	}
	for _, s := range []fairslot.Status{fairslot.Held, fairslot.Confirmed, fairslot.CheckedIn, fairslot.Called, fairslot.Completed, fairslot.Cancelled, fairslot.Expired, fairslot.NoShow} {
		add("status", string(s))
	}
	for _, k := range []fairslot.Kind{fairslot.Invalid, fairslot.Unauthorized, fairslot.Forbidden, fairslot.NotFound, fairslot.Conflict,
		fairslot.Limited, fairslot.Gone, fairslot.TooLarge, fairslot.Unavailable, fairslot.ChallengeRequired, fairslot.Internal} {
		add("kind", string(k))
		dynamic = append(dynamic, fairslot.KindKey(k))
	}
	add("mode", string(fairslot.FirstCome), string(fairslot.Draw))
	add("outcome", string(fairslot.Won), string(fairslot.Lost), string(fairslot.Skipped))
	add("period", string(fairslot.Morning), string(fairslot.Afternoon))
	add("title", string(fairslot.Expert), string(fairslot.General))
	add("role", string(fairslot.Registrar), string(fairslot.Nurse), string(fairslot.DoctorRole), string(fairslot.Admin))
	add("room", "recall", "missed", "complete")
	add("priority", fairslot.PriorityGroups...)
	for _, id := range idTypes {
		add("idtype", string(id))
	}
	for k := range doneWhat {
		add("admin.done", k)
	}
	for _, k := range dynamic {
		if !has(k) {
			t.Errorf("the catalogue has no %q", k)
		}
	}
}

func TestLanguageChoice(t *testing.T) {
	cat, err := loadCatalogue(embedded, Hospital{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		accept, cookie, query, want string
	}{
		{"", "", "", "zh-CN"}, // the default
		{"vi-VN,vi;q=0.9,en;q=0.8", "", "", "vi"},
		{"en-GB,en;q=0.9", "", "", "en"},
		{"zh-TW,zh;q=0.9", "", "", "zh-CN"},
		{"fr-FR", "", "", "zh-CN"},
		{"en", "vi", "", "vi"},      // the visitor's choice beats the browser's
		{"en", "klingon", "", "en"}, // a made-up cookie is ignored
		{"en", "vi", "zh-CN", "zh-CN"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/?lang="+tt.query, nil)
		r.Header.Set("Accept-Language", tt.accept)
		if tt.cookie != "" {
			r.Header.Set("Cookie", LangCookie+"="+tt.cookie)
		}
		if got := cat.locale(r).Code; got != tt.want {
			t.Errorf("Accept-Language %q, cookie %q, ?lang=%q: %s, want %s", tt.accept, tt.cookie, tt.query, got, tt.want)
		}
	}
	if got := cat.byCode("vi").T("session.remaining", 3); got != "còn 3" {
		t.Errorf("formatted message = %q", got)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/me": "/me", "/sessions/3": "/sessions/3", "": "/", "//evil.example/x": "/", "https://evil.example": "/",
		"/\\evil.example": "/", "me": "/", "/a\r\nSet-Cookie: x": "/",
		// What browsers turn into another site: tabs and newlines dropped,
		// a backslash read as a slash, leading spaces trimmed.
		"/\t/evil.example": "/", "/\n/evil.example": "/", "\t//evil.example": "/", " //evil.example": "/",
		"/\r\n/evil.example": "/", "\\/evil.example": "/", "/\t\\evil.example": "/", "/ /evil.example": "/",
		"/me?lang=vi": "/me?lang=vi", "/%2F/evil.example": "/%2F/evil.example", "/\tme": "/me",
	} {
		got := localPath(in)
		if got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
		if host := asBrowser(t, got); host != "hospital.example" {
			t.Errorf("localPath(%q) = %q leads a browser to %q", in, got, host)
		}
	}
}

// FuzzLocalPath: whatever the return address, a browser following the
// redirect stays on the site.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/me", "//evil.example", "/\t/evil.example", "/\\evil", "https://evil.example", "/%09/x", "\x00//evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if host := asBrowser(t, localPath(in)); host != "hospital.example" {
			t.Errorf("localPath(%q) = %q leads a browser to %q", in, localPath(in), host)
		}
	})
}

// asBrowser resolves a Location header value as a browser would on a page
// of https://hospital.example (the WHATWG URL parser's removal of tabs and
// newlines, trimming of C0 controls and spaces, and backslashes as slashes
// in http(s) URLs), and returns the host it leads to.
func asBrowser(t *testing.T, location string) string {
	t.Helper()
	s := strings.TrimFunc(location, func(r rune) bool { return r <= ' ' })
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(s)
	base, _ := url.Parse("https://hospital.example/sessions/1")
	u, err := base.Parse(s)
	if err != nil {
		return "unparseable: " + err.Error()
	}
	return u.Host
}

// TestNoFormSendsDataInTheURL: every form is a POST, so nothing a patient
// types (a phone, an ID number) ends up in an address, a log or a history.
func TestNoFormSendsDataInTheURL(t *testing.T) {
	files, _ := fs.Glob(embedded, "templates/*.html")
	form := regexp.MustCompile(`<form[^>]*>`)
	for _, f := range files {
		b, _ := fs.ReadFile(embedded, f)
		for _, tag := range form.FindAllString(string(b), -1) {
			// A search form (the admin lists' and the console's filters) asks
			// by campus, department, doctor, dates or time of day, chosen
			// from lists: no personal data, and worth a link.
			if !regexp.MustCompile(`method="post"`).MatchString(tag) && !strings.Contains(tag, `role="search"`) {
				t.Errorf("%s: %s is not a POST form", f, tag)
			}
		}
		if regexp.MustCompile(`<script>|\son[a-z]+="|style="`).Match(b) {
			t.Errorf("%s has inline script or style, which the CSP refuses", f)
		}
	}
}

func TestChallengedPages(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		want         bool
	}{
		{"POST", "/sessions/12/book", true}, {"POST", "/sessions/12/enter", true},
		{"GET", "/sessions/12/book", false}, {"POST", "/sessions/12/waitlist", false},
		{"POST", "/bookings/3/pay", false}, {"POST", "/login", false}, {"POST", "/sessions/book", false},
	} {
		if got := Challenged(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.want {
			t.Errorf("Challenged(%s %s) = %v, want %v", tt.method, tt.path, got, tt.want)
		}
	}
}
