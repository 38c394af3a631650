package notify_test

import (
	"testing"

	"github.com/fairslot/fairslot/internal/notify"
)

// A reviewer's decision is told in every language, each its own text, and
// needs no parameter: nothing of the account, its patients or the accounts
// linked to it goes into the message.
func TestRiskMessagesInEveryLanguage(t *testing.T) {
	for _, k := range []string{notify.KeyRiskApproved, notify.KeyRiskRestricted, notify.KeyRiskBlocked} {
		texts := map[string]bool{}
		for _, lang := range notify.Languages {
			got, err := notify.Body{Key: k, Lang: lang}.Text()
			if err != nil || got == "" {
				t.Errorf("%s in %s: %q, %v", k, lang, got, err)
			}
			texts[got] = true
		}
		if len(texts) != len(notify.Languages) {
			t.Errorf("%s: %d distinct texts in %d languages", k, len(texts), len(notify.Languages))
		}
	}
}
