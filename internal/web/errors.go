package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/text/language"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/httpapi"
)

// Errors people can act on (issue 13 item 4). A domain error carries a
// catalogue key and its parameters (fairslot.Error); this file turns it
// into the visitor's language, for the pages and — through
// httpapi.Server.Errors — for the JSON API. A form whose submission fails
// is shown again with what was entered, the error next to its field
// (aria-invalid, aria-describedby), instead of a dead-end error page.

// Error translates err: its own key with its parameters, or its kind's
// generic text. An internal error's detail never shows.
func (l *Locale) Error(err error) string {
	key, args := fairslot.ErrorKey(err)
	return l.T(key, l.errorArgs(args)...)
}

// errorArgs turns an error's parameters into text of the locale: times and
// dates as it writes them, a booking status or a staff role by its name,
// never the code's (checked_in).
func (l *Locale) errorArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case time.Time:
			out[i] = l.Stamp(v)
		case time.Duration:
			out[i] = l.duration(v)
		case fairslot.Status:
			out[i] = l.T("status." + string(v))
		case fairslot.Role:
			out[i] = l.T("role." + string(v))
		case string:
			if isDate(v) {
				out[i] = l.Date(v)
			} else {
				out[i] = v
			}
		default:
			out[i] = v
		}
	}
	return out
}

// ErrorText is the API's translated error message (httpapi.Translator):
// in the language the request's Accept-Language asks for; ok is false when
// it asks for none of the catalogue's (no header, or only French, say),
// and the API keeps its English message.
func (p *Pages) ErrorText(r *http.Request, err error) (string, bool) {
	if p.cat == nil {
		return "", false
	}
	tags, _, perr := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if perr != nil || len(tags) == 0 {
		return "", false
	}
	_, i, conf := p.cat.matcher.Match(tags...)
	if conf == language.No {
		return "", false
	}
	return p.cat.locales[i].Error(err), true
}

var _ httpapi.Translator = (*Pages)(nil)

// failedForm is a form submission that failed with an error to show next
// to its field; render shows the page again with it (view.Field).
type failedForm struct {
	action string // the form's action: only that form on the page is refilled
	values url.Values
	err    error
	status int
}

type formKey struct{}

// inline reports whether err is shown in the form that caused it: what the
// visitor can correct or wait out. An internal fault, an overload, a
// refused or expired form, or a missing login keeps the error page.
func inline(err error) bool {
	switch fairslot.ErrorKind(err) {
	case fairslot.Internal, fairslot.Unavailable, fairslot.Forbidden, fairslot.TooLarge, fairslot.ChallengeRequired:
		return false
	case fairslot.Unauthorized:
		return fairslot.ErrorField(err) != ""
	}
	return true
}

// keep shows the page again after the form posted to r failed with err:
// page renders it (as for GET) and its form keeps what was entered, with
// the error next to its field. An error the visitor cannot act on in the
// form goes to the error page.
func (p *Pages) keep(w http.ResponseWriter, r *http.Request, err error, page func(http.ResponseWriter, *http.Request) error) error {
	if !inline(err) {
		return err
	}
	f := &failedForm{action: r.URL.Path, values: r.PostForm, err: err, status: p.API.Failed(w, r, err)}
	return page(w, r.WithContext(context.WithValue(r.Context(), formKey{}, f)))
}

// about returns err about the form's field named field when it is about
// none yet: a sign-in form's own refusal (a wrong password or code) is the
// visitor's to correct there, where a missing login elsewhere is not.
func about(err error, field string) error {
	var e *fairslot.Error
	if errors.As(err, &e) && e.Field == "" {
		return e.On(field)
	}
	return err
}

// Input is one field of a form as the "input" partials show it: the value
// to fill in and, after a failed submission, the error about it.
type Input struct {
	Name    string
	Value   string
	Message string // the error about this field, translated; empty: none
	ErrorID string // the id of the element holding Message, for aria-describedby
}

// Field returns the named input of the form posting to action: refilled
// with what was entered and carrying the error about it when that form
// just failed, else empty.
func (v view) Field(action, name string) Input {
	in := Input{Name: name, ErrorID: name + "-error"}
	if v.form == nil || v.form.action != action {
		return in
	}
	in.Value = v.form.values.Get(name)
	if fairslot.ErrorField(v.form.err) == name {
		in.Message = v.Locale.Error(v.form.err)
	}
	return in
}

// Failed reports whether the form posting to action just failed: a page
// shows it open.
func (v view) Failed(action string) bool { return v.form != nil && v.form.action == action }

// FormError returns the error of the form posting to action that is about
// none of its fields (fields lists those it has), translated; empty when
// that form did not fail or the error is shown at a field.
//
// An action of "*" is any form of the page: for a page whose failed form
// may no longer be shown (a session that filled up meanwhile shows the
// waitlist form, not the booking form that failed).
func (v view) FormError(action string, fields ...string) Input {
	in := Input{ErrorID: "form-error"}
	if v.form == nil || (action != "*" && v.form.action != action) {
		return in
	}
	field := fairslot.ErrorField(v.form.err)
	for _, f := range fields {
		if f == field {
			return in
		}
	}
	in.Message = v.Locale.Error(v.form.err)
	return in
}
