package web

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"html"
	"io"
	"io/fs"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/httpapi"
	"github.com/fairslot/fairslot/internal/kit"
)

// domainError is one keyed error the code can return, found in its source.
type domainError struct {
	key, at string
	// args is how many parameters the code gives the translation, or -1
	// when the source does not say (a literal, a spread slice).
	args int
}

// domainErrors finds every error key in the module's code (tests aside):
// the key argument of every fairslot.E call and the Key of every
// fairslot.Error literal. A key that is not a string literal cannot be
// checked, and fails the test. An E call's parameters are those after its
// format, or those of the .With that replaces them.
func domainErrors(t *testing.T) []domainError {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var out []domainError
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		inRoot := f.Name.Name == "fairslot"
		with := map[*ast.CallExpr]*ast.CallExpr{} // an E call and the .With call on it
		literal := func(e ast.Expr, where token.Pos, args int) {
			if id, ok := e.(*ast.Ident); ok && inRoot && id.Name == "key" {
				return // E itself
			}
			lit, ok := e.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Errorf("%s: an error key that is not a string literal cannot be checked", fset.Position(where))
				return
			}
			k, _ := strconv.Unquote(lit.Value)
			out = append(out, domainError{key: k, at: fset.Position(where).String(), args: args})
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "With" {
					if e, ok := sel.X.(*ast.CallExpr); ok {
						with[e] = n
					}
				}
				if isName(n.Fun, "E", inRoot) && len(n.Args) >= 3 {
					given := n
					if w := with[n]; w != nil {
						given = w
					}
					args := len(given.Args)
					if given == n {
						args -= 3 // kind, key, format
					}
					if given.Ellipsis.IsValid() {
						args = -1
					}
					literal(n.Args[1], n.Pos(), args)
				}
			case *ast.CompositeLit:
				if isName(n.Type, "Error", inRoot) {
					for _, el := range n.Elts {
						if kv, ok := el.(*ast.KeyValueExpr); ok {
							if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Key" {
								literal(kv.Value, kv.Pos(), -1)
							}
						}
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 40 {
		t.Fatalf("found %d error keys in the code; the scan is broken", len(out))
	}
	return out
}

// isName reports whether e names fairslot.NAME (or NAME inside package
// fairslot itself).
func isName(e ast.Expr, name string, inRoot bool) bool {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		return ok && x.Name == "fairslot" && e.Sel.Name == name
	case *ast.Ident:
		return inRoot && e.Name == name
	}
	return false
}

var verb = regexp.MustCompile(`%(\[\d+\])?[-+# 0]*\d*[a-zA-Z]`)

// TestEveryErrorKeyIsTranslated: every key the code can return, and every
// kind's generic text, is under "error." and in every language (which
// loadCatalogue checks is complete), each translation taking as many
// parameters as the English one, and as the code gives it.
func TestEveryErrorKeyIsTranslated(t *testing.T) {
	cat, err := loadCatalogue(embedded, Hospital{})
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]map[string]string{}
	for _, l := range localeNames {
		b, err := fs.ReadFile(embedded, "i18n/"+l.code+".json")
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		raw[l.code] = m
	}
	keys := domainErrors(t)
	for _, k := range fairslot.Kinds {
		keys = append(keys, domainError{key: fairslot.KindKey(k), at: "kind " + string(k), args: 0})
	}
	for _, d := range keys {
		if !strings.HasPrefix(d.key, "error.") {
			t.Errorf("%s: key %q is not under error.", d.at, d.key)
		}
		if _, ok := slices.BinarySearch(cat.keys, d.key); !ok {
			t.Errorf("%s: key %q is not in the catalogue", d.at, d.key)
			continue
		}
		want := params(raw["en"][d.key])
		if d.args >= 0 && d.args != want {
			t.Errorf("%s: %q is given %d parameters; its English text takes %d", d.at, d.key, d.args, want)
		}
		for code, m := range raw {
			if got := params(m[d.key]); got != want {
				t.Errorf("%s: %q in %s takes %d parameters, in English %d", d.at, d.key, code, got, want)
			}
		}
	}
}

// params counts the distinct parameters a message uses.
func params(msg string) int {
	n, next := 0, 1
	for _, m := range verb.FindAllStringSubmatch(msg, -1) {
		i := next
		if m[1] != "" {
			i, _ = strconv.Atoi(strings.Trim(m[1], "[]"))
		}
		next = i + 1
		n = max(n, i)
	}
	return n
}

// internalNames are words of the code a patient must never read.
var internalNames = []string{"checked_in", "no_show", "limit_reached", "not_found", "too_large", "challenge_required",
	"add_slot", "cn_resident", "vn_cccd", "hk_macau_permit", "error.", "%!", "EXTRA", "MISSING"}

// TestErrorPagesSpeakThePageLanguage renders the error page of every domain
// error and kind in Chinese and Vietnamese, and checks that it holds none of
// the English texts (the error's own Message, or any English error text of
// the catalogue), no catalogue key and no internal name; Chinese pages hold
// no English word at all.
func TestErrorPagesSpeakThePageLanguage(t *testing.T) {
	p := testPages(t)
	en := map[string]string{}
	b, _ := fs.ReadFile(embedded, "i18n/en.json")
	if err := json.Unmarshal(b, &en); err != nil {
		t.Fatal(err)
	}
	var english []string
	for k, v := range en {
		if strings.HasPrefix(k, "error.") && k != "error.request" {
			english = append(english, strings.SplitN(v, "%", 2)[0])
		}
	}
	var errs []*fairslot.Error
	for _, d := range domainErrors(t) {
		args := sampleArgs(en[d.key])
		errs = append(errs, &fairslot.Error{Kind: fairslot.Conflict, Key: d.key, Args: args,
			Message: "English domain text that must not show " + fmt.Sprint(args...)})
	}
	for _, k := range fairslot.Kinds {
		errs = append(errs, &fairslot.Error{Kind: k, Message: "English domain text that must not show"})
	}
	// Parameters of the code's own types are written in the language too.
	errs = append(errs, fairslot.E(fairslot.Conflict, "error.booking.cancel_status", "a booking that is %s cannot be cancelled", fairslot.CheckedIn),
		fairslot.E(fairslot.Conflict, "error.checkin.unpaid", "only a paid booking can be checked in; this one is %s", fairslot.NoShow),
		fairslot.E(fairslot.Limited, "error.binding.too_many", "too many binding changes; at most %d per %s", 3, 24*time.Hour))
	englishWord := regexp.MustCompile(`[A-Za-z]{3,}`)
	allowed := map[string]bool{"fairslot": true, "English": true, "CCCD": true}
	// The desk's paper-import errors name the file's columns and kinds as
	// the clerk types them (the CSV's header is the same in every
	// language): those words are not checked.
	fileWords := regexp.MustCompile(`\b(` + strings.Join(append([]string{"booking", "check_in", "walk_in", "waitlist", "CSV", "MiB", "YYYY-MM-DD", "HH:MM"}, kit.CSVHeader...), "|") + `)\b`)
	for _, lang := range []string{"zh-CN", "vi"} {
		for _, e := range errs {
			r := httptest.NewRequest("POST", "/sessions/1/book?lang="+lang, nil) // a GET needing a login is redirected
			w := httptest.NewRecorder()
			p.fail(w, r, e)
			page := w.Body.String()
			text := visibleText(page)
			if strings.HasPrefix(e.Key, "error.kit.") {
				text = fileWords.ReplaceAllString(text, "")
			}
			if strings.Contains(page, e.Message) {
				t.Errorf("%s page of %q shows its English message", lang, e.Key)
			}
			for _, s := range english {
				if len(s) > 8 && strings.Contains(text, s) {
					t.Errorf("%s page of %q (%s) shows English %q:\n%s", lang, e.Key, e.Kind, s, text)
				}
			}
			for _, s := range internalNames {
				if strings.Contains(text, s) {
					t.Errorf("%s page of %q (%s) shows %q:\n%s", lang, e.Key, e.Kind, s, text)
				}
			}
			if lang == "zh-CN" {
				for _, w := range englishWord.FindAllString(text, -1) {
					if !allowed[w] {
						t.Errorf("zh-CN page of %q (%s) holds the English word %q:\n%s", e.Key, e.Kind, w, text)
					}
				}
			}
		}
	}
}

// sampleArgs makes parameters for a message: a number for %d, a time for
// %s (the most a %s of the code is: a date written by the locale).
func sampleArgs(msg string) []any {
	ms := verb.FindAllStringSubmatch(msg, -1)
	out := make([]any, params(msg))
	next := 1
	for _, m := range ms {
		i := next
		if m[1] != "" {
			i, _ = strconv.Atoi(strings.Trim(m[1], "[]"))
		}
		next = i + 1
		if strings.HasSuffix(m[0], "d") {
			out[i-1] = 3
		} else {
			out[i-1] = time.Date(2026, 12, 1, 7, 30, 0, 0, time.UTC)
		}
	}
	return out
}

var tags = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<code>.*?</code>|<[^>]*>`)

// visibleText is what a page shows: its text without tags, the request ID
// (a code for the help desk) left out.
func visibleText(page string) string {
	return html.UnescapeString(tags.ReplaceAllString(page, " "))
}

// testPages is the pages over a service with nothing behind it: enough to
// render error pages.
func testPages(t *testing.T) *Pages {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	p := &Pages{API: &httpapi.Server{App: &app.Service{Location: loc}, Log: log}, Log: log,
		Key: func(string) []byte { return make([]byte, 32) }}
	if err := p.load(); err != nil {
		t.Fatal(err)
	}
	return p
}
