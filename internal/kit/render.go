package kit

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"time"
)

// The kit speaks the hospital's language (kit.lang, zh-CN by default),
// from a catalogue of its own: the web package's is for pages served to a
// browser that chooses, and sits above this one. Every language has every
// key (TestCatalogue).
//
//go:embed i18n/*.json templates/page.html
var files embed.FS

// Langs are the languages the kit speaks; the first is the default.
var Langs = []string{"zh-CN", "vi", "en"}

var catalogues = func() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, l := range Langs {
		raw, err := files.ReadFile("i18n/" + l + ".json")
		if err != nil {
			panic(err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(raw, &m); err != nil {
			panic(fmt.Sprintf("kit catalogue %s: %v", l, err))
		}
		out[l] = m
	}
	return out
}()

// CheckLang refuses a language the kit does not speak.
func CheckLang(lang string) error {
	if _, ok := catalogues[lang]; !ok {
		return fmt.Errorf("the downtime kit speaks %s, not %q", strings.Join(Langs, ", "), lang)
	}
	return nil
}

func translator(lang string) func(key string, args ...any) string {
	m, ok := catalogues[lang]
	if !ok {
		m = catalogues[Langs[0]]
	}
	return func(key string, args ...any) string {
		s, ok := m[key]
		if !ok {
			return key
		}
		if len(args) > 0 {
			return fmt.Sprintf(s, args...)
		}
		return s
	}
}

// style is the page's only styling, inline (a kit opens from a share with
// no server behind it): A4 pages, the system's CJK fonts by name, table
// headers repeated on every printed page.
const style = `@page{size:A4;margin:12mm 10mm}` +
	`body{font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Hiragino Sans GB","Microsoft YaHei","WenQuanYi Micro Hei","Noto Sans",Arial,SimSun,sans-serif;font-size:10.5pt;color:#000;margin:0}` +
	`h1{font-size:16pt;margin:0 0 2mm}h2{font-size:13pt;margin:5mm 0 1mm;border-bottom:1px solid #000}h3{font-size:11pt;margin:3mm 0 1mm}` +
	`.meta{margin:0 0 2mm}.note{border:1px solid #000;padding:2mm;margin:0 0 3mm;font-size:9.5pt}` +
	`table{width:100%;border-collapse:collapse;margin:0 0 2mm}th,td{border:1px solid #000;padding:1mm 1.5mm;text-align:left;vertical-align:top}` +
	`thead{display:table-header-group}tr{page-break-inside:avoid}th{background:#eee}td.w{width:22mm}.blank td{height:7mm}` +
	`.window{font-weight:bold;background:#f6f6f6}.day{page-break-before:always}.day:first-of-type{page-break-before:auto}` +
	`pre{white-space:pre-wrap;word-break:break-all;font-size:8pt}` +
	`@media screen{body{margin:8mm auto;max-width:200mm}}`

// StyleCSP is the Content-Security-Policy source allowing the page's one
// inline style, for a server that shows the page (the console's print
// view): the page has no script and loads nothing.
var StyleCSP = func() string {
	h := sha256.Sum256([]byte(style))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}()

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"hm":   func(t time.Time) string { return t.Format("15:04") },
	"when": func(t time.Time) string { return t.Format("2006-01-02 15:04") },
}).ParseFS(files, "templates/page.html"))

// blankWalkIns is how many empty lines each session leaves for walk-ins.
const blankWalkIns = 6

// HTML writes p as a self-contained page in p.Lang.
func HTML(w io.Writer, p Page) error {
	t := translator(p.Lang)
	lang := p.Lang
	if CheckLang(lang) != nil {
		lang = Langs[0]
	}
	return page.Execute(w, struct {
		Page
		Lang   string
		CSS    template.CSS
		T      func(string, ...any) string
		Blanks []int
	}{p, lang, template.CSS(style), t, make([]int, blankWalkIns)})
}

// CSVHeader is the kit CSV's columns. The desk fills checked_in_at and
// id_last4 of the bookings it checked in on paper, and adds walk_in rows
// (session, checked_in_at, patient_name, id_type, id_number, phone,
// priority); 'fairslot kit import' takes the file back (import.go).
var CSVHeader = []string{"kind", "date", "session", "doctor", "period", "room", "window", "slot", "ticket", "code", "name", "proof",
	"status", "priority", "checked_in_at", "id_last4", "patient_name", "id_type", "id_number", "phone"}

// CSV writes p's bookings and waitlist, one row each, in the catalogue's
// language for the doctor's name only (statuses and proofs stay codes, for
// machines).
func CSV(w io.Writer, p Page) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, d := range p.Days {
		for _, s := range d.Sessions {
			base := []string{d.Date, strconv.FormatInt(s.ID, 10), cell(s.Doctor), string(s.Period), cell(s.Room)}
			for _, win := range s.Windows {
				for _, r := range win.Rows {
					row := append([]string{"booking"}, base...)
					row = append(row, win.Start.Format("15:04")+"-"+win.End.Format("15:04"), strconv.Itoa(r.Slot), r.Ticket, r.Code, cell(r.Name),
						string(r.Proof), string(r.Status), r.Priority, "", "", "", "", "", "")
					if err := cw.Write(row); err != nil {
						return err
					}
				}
			}
			for _, wt := range s.Waitlist {
				row := append([]string{"waitlist"}, base...)
				any := ""
				if wt.AnySession {
					any = "any"
				}
				row = append(row, any, strconv.Itoa(wt.Position), "", "", cell(wt.Name), string(wt.Proof), "waiting", "", "", "", "", "", "", "")
				if err := cw.Write(row); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// cell keeps a spreadsheet from running a value as a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Render returns p's page and CSV.
func Render(p Page) (html, csvData []byte, err error) {
	var h, c bytes.Buffer
	if err := HTML(&h, p); err != nil {
		return nil, nil, err
	}
	if err := CSV(&c, p); err != nil {
		return nil, nil, err
	}
	return h.Bytes(), c.Bytes(), nil
}
