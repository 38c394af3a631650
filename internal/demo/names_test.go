package demo_test

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"testing"
	"time"

	"github.com/fairslot/fairslot/internal/demo"
	"github.com/fairslot/fairslot/internal/demo/demotest"
)

// TestNamesCoverTheDemo: every department and doctor the demo seeds (the
// simulator's storm and floor included) has its name in each language of
// the pages, the Chinese one with no English word in it.
func TestNamesCoverTheDemo(t *testing.T) {
	ctx := context.Background()
	loc := time.FixedZone("CST", 8*3600)
	now := func() time.Time { return time.Date(2026, 12, 10, 9, 0, 0, 0, loc) }
	svc, _ := demotest.Service(t, loc, now, nobody{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := demo.SeedStorm(ctx, svc, now().Add(time.Hour), 30*time.Minute, 10); err != nil {
		t.Fatal(err)
	}
	names := demo.Names()
	latin := regexp.MustCompile(`[A-Za-z]{2,}`)
	check := func(stored string) {
		for _, lang := range []string{"zh-CN", "vi", "en"} {
			got := names[lang][stored]
			if got == "" {
				t.Errorf("%q has no %s name", stored, lang)
			}
			if lang == "zh-CN" && latin.MatchString(got) {
				t.Errorf("%q in Chinese is %q", stored, got)
			}
		}
	}
	ds, err := svc.Departments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range ds {
		check(d.Name)
		docs, err := svc.Doctors(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range docs {
			check(doc.Name)
			n++
		}
	}
	if len(ds) < 7 || n < 21 {
		t.Fatalf("checked %d departments and %d doctors; the demo has more", len(ds), n)
	}
}
