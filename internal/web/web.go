// Package web is what fairslot serves to browsers: the patient portal, the
// kiosk, the staff console and the waiting-room boards, as html/template
// pages in three languages, and their static assets (among them the
// proof-of-work solver, static/pow.js). Pages call the use cases in
// internal/app; they hold no rules of their own. It must never embed
// anything secret (everything under static/ is public), put personal data in
// a URL, or change state on a GET.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static templates i18n
var embedded embed.FS

// Static serves the assets under /static/, cacheable for a day.
func Static() http.Handler {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}
