package demo

import (
	"fmt"
	"strings"
)

// viDepartments is how Vietnamese writes the demo's departments.
var viDepartments = map[string]string{
	"FEVER": "Phòng khám sốt (24 giờ)", "PED": "Khoa Nhi", "CARD": "Khoa Tim mạch", "RESP": "Khoa Hô hấp",
	"DERM": "Khoa Da liễu", "OPH": "Khoa Mắt", "ORTH": "Khoa Chấn thương chỉnh hình",
}

// Names is the demo hospital's name table (config "names"): its
// department and doctor names are stored as "中文 English", and each
// language shows its own part — Vietnamese the department's own name and a
// doctor as "BS." (bác sĩ) or "GS." (giáo sư) with the pinyin.
func Names() map[string]map[string]string {
	out := map[string]map[string]string{"zh-CN": {}, "vi": {}, "en": {}}
	add := func(stored, vi string) {
		zh, en, _ := strings.Cut(stored, " ")
		out["zh-CN"][stored], out["en"][stored], out["vi"][stored] = zh, en, vi
	}
	doctor := func(en string) string {
		if rest, ok := strings.CutPrefix(en, "Prof "); ok {
			return "GS. " + rest
		}
		return "BS. " + strings.TrimPrefix(en, "Dr ")
	}
	for _, d := range depts {
		add(d.name, viDepartments[d.code])
		for _, doc := range d.doctors {
			_, en, _ := strings.Cut(doc, " ")
			add(doc, doctor(en))
		}
	}
	add("名医 Prof Famous", "GS. Danh y")
	for i := range FloorDoctors {
		add(fmt.Sprintf("值班医生 Floor Dr %d", i+1), fmt.Sprintf("BS. trực %d", i+1))
	}
	// The Chinese part of a fever clinic's name keeps its hours.
	out["zh-CN"][depts[0].name] = "发热门诊（24小时）"
	return out
}
