package web

import (
	"testing"
	"time"
)

func TestLocalFormats(t *testing.T) {
	hcm, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := loadCatalogue(embedded, Hospital{Location: hcm, Currency: "VND",
		Names: map[string]map[string]string{"vi": {"儿科 Paediatrics": "Khoa Nhi"}, "en": {"儿科 Paediatrics": "Paediatrics"}}})
	if err != nil {
		t.Fatal(err)
	}
	// 23:30 UTC on the 6th is 06:30 on Monday the 7th in Ho Chi Minh City.
	at := time.Date(2026, 12, 6, 23, 30, 0, 0, time.UTC)
	tests := []struct {
		lang, day, stamp, date, money, name, wait string
	}{
		{"vi", "Thứ Hai, 07/12/2026", "Thứ Hai, 07/12/2026 06:30", "Thứ Năm, 31/12/2026", "₫ 150.000", "Khoa Nhi", "45 giây"},
		{"zh-CN", "2026年12月7日 星期一", "2026年12月7日 星期一 06:30", "2026年12月31日 星期四", "₫ 150,000", "儿科 Paediatrics", "45秒"},
		{"en", "Mon 7 Dec 2026", "Mon 7 Dec 2026 06:30", "Thu 31 Dec 2026", "₫ 150,000", "Paediatrics", "45 seconds"},
	}
	for _, tt := range tests {
		l := cat.byCode(tt.lang)
		got := []string{l.Day(at), l.Stamp(at), l.Date("2026-12-31"), l.Money(150000), l.NameOf("儿科 Paediatrics"), l.duration(45 * time.Second)}
		want := []string{tt.day, tt.stamp, tt.date, tt.money, tt.name, tt.wait}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: got %q, want %q", tt.lang, got[i], want[i])
			}
		}
	}
	if _, err := loadCatalogue(embedded, Hospital{Currency: "yuan"}); err == nil {
		t.Error("a currency that is not ISO 4217 was taken")
	}
	// Durations never say "1 minutes".
	en := cat.byCode("en")
	for d, want := range map[time.Duration]string{time.Minute: "60 seconds", 90 * time.Second: "90 seconds", 3 * time.Minute: "3 minutes",
		time.Hour: "60 minutes", 3 * time.Hour: "3 hours"} {
		if got := en.duration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}
