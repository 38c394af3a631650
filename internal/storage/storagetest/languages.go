package storagetest

import (
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/storage"
)

// testAccountLanguages: an account's language is the one it last set, ""
// before any; accounts do not see each other's; setting the same one again
// changes nothing. On PostgreSQL this runs as the online role (INSERT and
// SELECT only).
func testAccountLanguages(t *testing.T, s storage.Store) {
	lang := func(account int64) string {
		t.Helper()
		var got string
		if err := s.View(ctx, func(tx storage.Tx) (err error) {
			got, err = tx.AccountLanguage(ctx, account)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	set := func(account int64, l string, at time.Time) {
		t.Helper()
		update(t, s, func(tx storage.Tx) error { return tx.SetAccountLanguage(ctx, account, l, at) })
	}
	if got := lang(1); got != "" {
		t.Errorf("the language of an account that set none = %q, want \"\"", got)
	}
	set(1, "vi", base)
	set(2, "zh-CN", base)
	set(1, "en", base.Add(time.Second))
	set(1, "en", base.Add(2*time.Second))
	set(2, "zh-CN", base.Add(3*time.Second))
	if got := lang(1); got != "en" {
		t.Errorf("account 1's language = %q, want en (its latest)", got)
	}
	if got := lang(2); got != "zh-CN" {
		t.Errorf("account 2's language = %q, want zh-CN", got)
	}
	set(1, "vi", base.Add(4*time.Second))
	if got := lang(1); got != "vi" {
		t.Errorf("account 1's language after switching back = %q, want vi", got)
	}
}
