package httpapi

import (
	"net/http"

	"golang.org/x/text/language"

	"github.com/fairslot/fairslot/internal/notify"
)

// messageTags are notify.Languages as tags, in that order.
var messageTags = func() []language.Tag {
	out := make([]language.Tag, len(notify.Languages))
	for i, l := range notify.Languages {
		out[i] = language.MustParse(l)
	}
	return out
}()

var messageMatcher = language.NewMatcher(messageTags)

// messageLang is the language of notify.Languages the request's
// Accept-Language asks for, "" when it asks for none of them.
func messageLang(r *http.Request) string {
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return ""
	}
	_, i, conf := messageMatcher.Match(tags...)
	if conf == language.No {
		return ""
	}
	return notify.Languages[i]
}
