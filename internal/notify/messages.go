package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
)

// Body is what an outbox row's sealed body holds: a message key, the
// patient's language and the parameters, rendered to text when the message
// is sent (so a message written before a translation is fixed goes out
// fixed). Parameters hold no personal data beyond a masked name.
type Body struct {
	Key    string            `json:"key"`
	Lang   string            `json:"lang,omitempty"`
	Params map[string]string `json:"params,omitempty"`
}

// Message keys.
const (
	KeyLoginCode    = "login_code"    // params: code
	KeyLoginWarning = "login_warning" // params: none: someone else asked for codes or guessed wrong
	// Binding (issue 13 item 1): the code that proves an identity, to its
	// phone on record; and, to its phone on record and its holders, that it
	// was bound to another account or removed from one.
	KeyBindingCode     = "binding_code"     // params: code, name (masked)
	KeyIdentityBound   = "identity_bound"   // params: name (masked)
	KeyIdentityUnbound = "identity_unbound" // params: name (masked)
)

// catalogue is every message in every language, text/template over the
// parameters. To add a language (issue 13: zh-CN and vi) add its map here,
// keyed by the page languages of internal/web/i18n, with every key of "en";
// a message in a language missing here, or a key missing in it, goes out
// in English. The login code's English text is what the demo has always
// printed (cmd/fairslot's tests read the code from it).
var catalogue = map[string]map[string]string{
	"en": {
		KeyLoginCode:       "Your fairslot login code is {{.code}}. It expires in 5 minutes. Never share it.",
		KeyLoginWarning:    "Someone else asked for fairslot login codes for this phone or tried wrong ones. Your own login still works. Never share a code.",
		KeyBindingCode:     "Someone asks to add {{.name}} as a patient to their fairslot account. If it is you or your family, the code is {{.code}} (valid 10 minutes). If not, ignore this message and never share the code.",
		KeyIdentityBound:   "{{.name}} was added as a patient to another fairslot account. If you did not expect this, call the hospital's registration desk.",
		KeyIdentityUnbound: "{{.name}} was removed from a fairslot account. Bookings and limits stay with the patient.",
	},
}

var templates = func() map[string]map[string]*template.Template {
	out := map[string]map[string]*template.Template{}
	for lang, keys := range catalogue {
		out[lang] = map[string]*template.Template{}
		for k, text := range keys {
			out[lang][k] = template.Must(template.New(k).Option("missingkey=error").Parse(text))
		}
	}
	return out
}()

// Encode is the body to seal into the outbox.
func (b Body) Encode() string {
	out, _ := json.Marshal(b) // a struct of strings always encodes
	return string(out)
}

// Text renders a sealed body read back from the outbox. A body that is not
// a Body (rows written before bodies were keys) is its own text.
func Text(sealed string) (string, error) {
	var b Body
	if !strings.HasPrefix(sealed, "{") || json.Unmarshal([]byte(sealed), &b) != nil || b.Key == "" {
		return sealed, nil
	}
	return b.Text()
}

// Text renders the body in its language, or in English.
func (b Body) Text() (string, error) {
	t, ok := templates[b.Lang][b.Key]
	if !ok {
		t, ok = templates["en"][b.Key]
	}
	if !ok {
		return "", fmt.Errorf("no message %q", b.Key)
	}
	var s strings.Builder
	if err := t.Execute(&s, b.Params); err != nil {
		return "", fmt.Errorf("message %q: %w", b.Key, err)
	}
	return s.String(), nil
}
