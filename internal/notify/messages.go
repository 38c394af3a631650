package notify

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"text/template"
	"time"

	"github.com/fairslot/fairslot/internal/localdate"
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
	// A held place for a patient: params name (masked), doctor,
	// department, date, time (the window), pay_by (date and time).
	KeyWaitlistOffer = "waitlist_offer" // a freed place offered from the waitlist
	KeyDrawWon       = "draw_won"       // a draw won; params also rank, of
	// A draw lost or not eligible: params name, doctor, department, date,
	// rank, of.
	KeyDrawLost    = "draw_lost"    // and put on the session's waitlist
	KeyDrawSkipped = "draw_skipped" // the booking rules did not allow this patient a place
	// Binding (issue 13 item 1): the code that proves an identity, to its
	// phone on record; and, to its phone on record and its holders, that it
	// was bound to another account or removed from one.
	KeyBindingCode     = "binding_code"     // params: code, name (masked)
	KeyIdentityBound   = "identity_bound"   // params: name (masked)
	KeyIdentityUnbound = "identity_unbound" // params: name (masked)
	// A held booking paid: params name (masked), doctor, department, date,
	// time (the window). Not the booking code: it is in My bookings, and
	// an SMS is read on lock screens and forwarded, while the code and the
	// last four ID digits are all the desk asks for at check-in.
	KeyBookingConfirmed = "booking_confirmed"
	// The hospital cancelled a session (停诊): params name (the account's
	// affected patients, masked), doctor, department, date, time (the
	// session's hours), refund ("yes" when a payment is refunded, else
	// ""), next_date and next_time (the doctor's next session with free
	// places, when the hospital offers it, else "").
	KeySessionCancelled        = "session_cancelled"         // the patients' bookings are cancelled
	KeySessionCancelledWaiting = "session_cancelled_waiting" // their draw entries or waitlist places are closed
	// Reminders, written by the sweep (internal/app/reminders.go), once
	// each: params name (masked), doctor, department, date, time (the
	// window); the payment reminder also pay_by. The payment reminder is
	// for a place held for the patient by a waitlist offer or a draw win,
	// shortly before its deadline; the day-before reminder for a confirmed
	// booking, the evening before, with what to bring and where to check in.
	KeyPayReminder = "pay_reminder"
	KeyDayReminder = "day_reminder"
	// A reviewer's decision on the account's risk (issue 17): approved
	// (free to book again, held entries back in their draws), restricted
	// (fewer requests allowed) or blocked. No params: the account's page
	// explains, and nothing of why others' accounts were linked is said.
	KeyRiskApproved   = "risk_approved"
	KeyRiskRestricted = "risk_restricted"
	KeyRiskBlocked    = "risk_blocked"
	// Referral review (issue 17 item 4): params name (masked), doctor,
	// department; approved and expired also until (date and time), the
	// redirect also clinic. Never the clinician's reason or the patient's
	// description (read on lock screens): those are in My referrals.
	KeyReferralApproved   = "referral_approved"
	KeyReferralDeclined   = "referral_declined"
	KeyReferralRedirected = "referral_redirected"
	KeyReferralExpired    = "referral_expired" // not reviewed in time: the release applied for stays open to the patient
	KeyReferralLapsed     = "referral_lapsed"  // not reviewed in time, for no planned release: apply again
)

// Languages are the languages messages are written in; any other goes out
// in English.
var Languages = []string{"en", "vi", "zh-CN"}

// catalogue is every message in every language, text/template over the
// parameters, keyed by the page languages of internal/web/i18n (every
// language with every key of "en"); a message in a language missing here
// goes out in English. The login code's English text is what the demo has
// always printed (cmd/fairslot's tests read the code from it).
var catalogue = map[string]map[string]string{
	"en": {
		KeyLoginCode:    "Your fairslot login code is {{.code}}. It expires in 5 minutes. Never share it.",
		KeyLoginWarning: "Someone else asked for fairslot login codes for this phone or tried wrong ones. Your own login still works. Never share a code.",
		KeyWaitlistOffer: "fairslot: a place has been freed for {{.name}} with {{.doctor}} ({{.department}}) on {{.date}} at {{.time}}. " +
			"It is held for you until {{.pay_by}}: pay in My bookings before then, or it passes to the next person waiting.",
		KeyDrawWon: "fairslot draw result: {{.name}} won a place (rank {{.rank}} of {{.of}}) with {{.doctor}} ({{.department}}) on {{.date}} at {{.time}}. " +
			"Pay in My bookings before {{.pay_by}}, or it passes to the waitlist.",
		KeyDrawLost: "fairslot draw result: {{.name}} was not drawn (rank {{.rank}} of {{.of}}) for {{.doctor}} ({{.department}}) on {{.date}}. " +
			"You are on the waitlist: if a place is freed, we will offer it to you by message.",
		KeyDrawSkipped: "fairslot draw result: {{.name}} could not be given a place with {{.doctor}} ({{.department}}) on {{.date}}: " +
			"the booking rules did not allow it (for example another booking that day). See My bookings.",
		KeyBindingCode:     "Someone asks to add {{.name}} as a patient to their fairslot account. If it is you or your family, the code is {{.code}} (valid 10 minutes). If not, ignore this message and never share the code.",
		KeyIdentityBound:   "{{.name}} was added as a patient to another fairslot account. If you did not expect this, call the hospital's registration desk.",
		KeyIdentityUnbound: "{{.name}} was removed from a fairslot account. Bookings and limits stay with the patient.",
		KeyBookingConfirmed: "fairslot: {{.name}}'s booking with {{.doctor}} ({{.department}}) on {{.date}} at {{.time}} is paid and confirmed. " +
			"Bring the patient's ID to check in; the booking code is in My bookings.",
		KeySessionCancelled: "fairslot: the hospital has cancelled {{.doctor}}'s clinic ({{.department}}) on {{.date}} {{.time}}. " +
			"The booking of {{.name}} is cancelled; you need not do anything.{{if .refund}} The payment is refunded in full.{{end}}" +
			"{{if .next_date}} The doctor's next clinic with free places is on {{.next_date}} {{.next_time}}: you may book it in fairslot.{{end}}",
		KeySessionCancelledWaiting: "fairslot: the hospital has cancelled {{.doctor}}'s clinic ({{.department}}) on {{.date}} {{.time}}. " +
			"The draw entry or waitlist place of {{.name}} for it is closed." +
			"{{if .next_date}} The doctor's next clinic with free places is on {{.next_date}} {{.next_time}}: you may book it in fairslot.{{end}}",
		KeyPayReminder: "fairslot reminder: the place held for {{.name}} with {{.doctor}} ({{.department}}) on {{.date}} at {{.time}} is not paid yet. " +
			"Pay in My bookings before {{.pay_by}}, or it passes to the next person waiting.",
		KeyDayReminder: "fairslot reminder: {{.name}} sees {{.doctor}} ({{.department}}) tomorrow, {{.date}}, at {{.time}}. " +
			"Bring the patient's ID and check in at a kiosk or the registration desk in that window; the booking code is in My bookings.",
		KeyRiskApproved: "fairslot: a reviewer has checked your account and lifted its restrictions. Draw entries that were held for review " +
			"take part in their draws if the entry window is still open. Details are on your account page.",
		KeyRiskRestricted: "fairslot: a reviewer has checked your account and limited it: fewer requests from it are allowed. " +
			"Your account page says why and how to ask for another review.",
		KeyRiskBlocked: "fairslot: a reviewer has checked your account and blocked online booking from it. " +
			"Your account page says why; you can ask for another review there or at the registration desk.",
		KeyReferralApproved: "fairslot: the request for {{.name}} to see {{.doctor}} ({{.department}}) is approved. " +
			"You may enter the draw or book until {{.until}}.",
		KeyReferralDeclined: "fairslot: the request for {{.name}} to see {{.doctor}} ({{.department}}) was not approved. " +
			"The reason is in My referrals; a general clinic can see the patient.",
		KeyReferralRedirected: "fairslot: the request for {{.name}} to see {{.doctor}} ({{.department}}) was redirected to {{.clinic}}. " +
			"The reason is in My referrals; book {{.clinic}} as usual.",
		KeyReferralExpired: "fairslot: the hospital did not review the request for {{.name}} to see {{.doctor}} ({{.department}}) in time. " +
			"So that you do not miss the release you applied for, you may enter it or book until {{.until}}. For later releases, apply again.",
		KeyReferralLapsed: "fairslot: the hospital did not review the request for {{.name}} to see {{.doctor}} ({{.department}}) in time. " +
			"Please apply again in My referrals.",
	},
	"zh-CN": {
		KeyLoginCode:    "您的 fairslot 登录验证码是 {{.code}}，5 分钟内有效。请勿告诉他人。",
		KeyLoginWarning: "有人为此手机号申请了 fairslot 登录验证码或输错了验证码。您本人仍可正常登录。请勿把验证码告诉他人。",
		KeyWaitlistOffer: "fairslot：已为{{.name}}候补到 {{.date}} {{.time}} {{.doctor}}（{{.department}}）的号源，" +
			"保留至 {{.pay_by}}。请在此之前到“我的预约”支付，逾期将转给下一位候补者。",
		KeyDrawWon: "fairslot 抽签结果：{{.name}}中签（排名 {{.rank}} / {{.of}}），{{.date}} {{.time}} {{.doctor}}（{{.department}}）。" +
			"请在 {{.pay_by}} 前到“我的预约”支付，逾期将转给候补者。",
		KeyDrawLost: "fairslot 抽签结果：{{.name}}未中签（排名 {{.rank}} / {{.of}}），{{.date}} {{.doctor}}（{{.department}}）。" +
			"您已进入候补，如有号源释放，我们会发消息通知您。",
		KeyDrawSkipped: "fairslot 抽签结果：{{.name}}未能获得 {{.date}} {{.doctor}}（{{.department}}）的号源：" +
			"不符合预约规则（例如当天已有其他预约）。详见“我的预约”。",
		KeyBindingCode:     "有人申请将{{.name}}添加为其 fairslot 账户的就诊人。如果是您本人或家人，验证码是 {{.code}}（10 分钟内有效）。如果不是，请忽略本短信，切勿把验证码告诉他人。",
		KeyIdentityBound:   "{{.name}}已被添加为另一个 fairslot 账户的就诊人。如非您本人所为，请致电医院挂号处。",
		KeyIdentityUnbound: "{{.name}}已从一个 fairslot 账户中移除。预约记录和限制仍随就诊人保留。",
		KeyBookingConfirmed: "fairslot：{{.name}}的预约已支付成功：{{.date}} {{.time}} {{.doctor}}（{{.department}}）。" +
			"就诊当天请携带就诊人身份证件签到，预约码见“我的预约”。",
		KeySessionCancelled: "fairslot：医院已停诊：{{.date}} {{.time}} {{.doctor}}（{{.department}}）。" +
			"{{.name}}的预约已取消，您无需任何操作。{{if .refund}}已付费用将全额退还。{{end}}" +
			"{{if .next_date}}该医生下一次有余号的门诊为 {{.next_date}} {{.next_time}}，如需可在 fairslot 预约。{{end}}",
		KeySessionCancelledWaiting: "fairslot：医院已停诊：{{.date}} {{.time}} {{.doctor}}（{{.department}}）。" +
			"{{.name}}对该门诊的抽签报名或候补已关闭。" +
			"{{if .next_date}}该医生下一次有余号的门诊为 {{.next_date}} {{.next_time}}，如需可在 fairslot 预约。{{end}}",
		KeyPayReminder: "fairslot 提醒：为{{.name}}保留的 {{.date}} {{.time}} {{.doctor}}（{{.department}}）号源尚未支付。" +
			"请在 {{.pay_by}} 前到“我的预约”支付，逾期将转给下一位候补者。",
		KeyDayReminder: "fairslot 就诊提醒：{{.name}}明天（{{.date}}）{{.time}} 就诊，{{.doctor}}（{{.department}}）。" +
			"请携带就诊人身份证件，在该时段内到自助机或挂号窗口签到，预约码见“我的预约”。",
		KeyRiskApproved:       "fairslot：审核人员已核查您的账户并解除限制。待审核的抽签报名如报名时段仍未结束，将参加抽签。详情见您的账户页面。",
		KeyRiskRestricted:     "fairslot：审核人员已核查您的账户，并限制了该账户：其请求次数受到限制。原因及再次申请审核的方法见您的账户页面。",
		KeyRiskBlocked:        "fairslot：审核人员已核查您的账户，并已停止该账户的网上预约。原因见您的账户页面，您可在该页面或到挂号窗口再次申请审核。",
		KeyReferralApproved:   "fairslot：{{.name}}预约{{.doctor}}（{{.department}}）的申请已通过审核，{{.until}}前可参加抽签或预约。",
		KeyReferralDeclined:   "fairslot：{{.name}}预约{{.doctor}}（{{.department}}）的申请未通过审核，原因见“我的转诊申请”；普通门诊可为患者诊治。",
		KeyReferralRedirected: "fairslot：{{.name}}预约{{.doctor}}（{{.department}}）的申请已转至{{.clinic}}，原因见“我的转诊申请”；请照常预约{{.clinic}}。",
		KeyReferralExpired: "fairslot：医院未能及时审核{{.name}}预约{{.doctor}}（{{.department}}）的申请。为不让您错过所申请的放号，" +
			"{{.until}}前您可参加该次抽签或预约；以后的放号请重新申请。",
		KeyReferralLapsed: "fairslot：医院未能及时审核{{.name}}预约{{.doctor}}（{{.department}}）的申请，请在“我的转诊申请”中重新申请。",
	},
	"vi": {
		KeyLoginCode:    "Mã đăng nhập fairslot của bạn là {{.code}}. Mã hết hạn sau 5 phút. Không chia sẻ mã cho ai.",
		KeyLoginWarning: "Có người khác đã yêu cầu mã đăng nhập fairslot cho số điện thoại này hoặc nhập sai mã. Bạn vẫn đăng nhập bình thường. Không chia sẻ mã cho ai.",
		KeyWaitlistOffer: "fairslot: có một chỗ trống cho {{.name}} với {{.doctor}} ({{.department}}) ngày {{.date}} lúc {{.time}}. " +
			"Chỗ được giữ đến {{.pay_by}}: hãy thanh toán trong Lịch hẹn của tôi trước thời điểm đó, nếu không chỗ sẽ chuyển cho người chờ tiếp theo.",
		KeyDrawWon: "Kết quả bốc thăm fairslot: {{.name}} được chọn (thứ hạng {{.rank}} / {{.of}}) với {{.doctor}} ({{.department}}) ngày {{.date}} lúc {{.time}}. " +
			"Hãy thanh toán trong Lịch hẹn của tôi trước {{.pay_by}}, nếu không chỗ sẽ chuyển cho danh sách chờ.",
		KeyDrawLost: "Kết quả bốc thăm fairslot: {{.name}} không được chọn (thứ hạng {{.rank}} / {{.of}}) cho {{.doctor}} ({{.department}}) ngày {{.date}}. " +
			"Bạn đã vào danh sách chờ: nếu có chỗ trống, chúng tôi sẽ nhắn tin mời bạn.",
		KeyDrawSkipped: "Kết quả bốc thăm fairslot: {{.name}} không thể nhận chỗ với {{.doctor}} ({{.department}}) ngày {{.date}}: " +
			"quy định đặt lịch không cho phép (ví dụ đã có lịch hẹn khác trong ngày). Xem Lịch hẹn của tôi.",
		KeyBindingCode:     "Có người yêu cầu thêm {{.name}} làm người bệnh vào tài khoản fairslot của họ. Nếu đó là bạn hoặc người nhà, mã là {{.code}} (hiệu lực 10 phút). Nếu không, hãy bỏ qua tin nhắn này và không chia sẻ mã cho ai.",
		KeyIdentityBound:   "{{.name}} đã được thêm làm người bệnh vào một tài khoản fairslot khác. Nếu bạn không biết việc này, hãy gọi quầy đăng ký của bệnh viện.",
		KeyIdentityUnbound: "{{.name}} đã được gỡ khỏi một tài khoản fairslot. Lịch hẹn và giới hạn vẫn gắn với người bệnh.",
		KeyBookingConfirmed: "fairslot: lịch hẹn của {{.name}} với {{.doctor}} ({{.department}}) ngày {{.date}} lúc {{.time}} đã được thanh toán và xác nhận. " +
			"Hãy mang giấy tờ tùy thân của người bệnh khi đến làm thủ tục; mã lịch hẹn có trong Lịch hẹn của tôi.",
		KeySessionCancelled: "fairslot: bệnh viện đã hủy buổi khám của {{.doctor}} ({{.department}}) ngày {{.date}} {{.time}}. " +
			"Lịch hẹn của {{.name}} đã bị hủy; bạn không cần làm gì.{{if .refund}} Khoản đã thanh toán được hoàn lại toàn bộ.{{end}}" +
			"{{if .next_date}} Buổi khám tiếp theo còn chỗ của bác sĩ là ngày {{.next_date}} {{.next_time}}: bạn có thể đặt lịch trong fairslot.{{end}}",
		KeySessionCancelledWaiting: "fairslot: bệnh viện đã hủy buổi khám của {{.doctor}} ({{.department}}) ngày {{.date}} {{.time}}. " +
			"Phiếu bốc thăm hoặc chỗ trong danh sách chờ của {{.name}} cho buổi khám này đã đóng." +
			"{{if .next_date}} Buổi khám tiếp theo còn chỗ của bác sĩ là ngày {{.next_date}} {{.next_time}}: bạn có thể đặt lịch trong fairslot.{{end}}",
		KeyPayReminder: "fairslot nhắc bạn: chỗ giữ cho {{.name}} với {{.doctor}} ({{.department}}) ngày {{.date}} lúc {{.time}} vẫn chưa được thanh toán. " +
			"Hãy thanh toán trong Lịch hẹn của tôi trước {{.pay_by}}, nếu không chỗ sẽ chuyển cho người chờ tiếp theo.",
		KeyDayReminder: "fairslot nhắc lịch khám: {{.name}} khám với {{.doctor}} ({{.department}}) vào ngày mai, {{.date}}, lúc {{.time}}. " +
			"Hãy mang giấy tờ tùy thân của người bệnh và làm thủ tục tại máy tự phục vụ hoặc quầy đăng ký trong khung giờ đó; mã lịch hẹn có trong Lịch hẹn của tôi.",
		KeyRiskApproved: "fairslot: người xét duyệt đã kiểm tra tài khoản của bạn và gỡ bỏ các hạn chế. Các phiếu bốc thăm đang chờ xét duyệt " +
			"sẽ tham gia bốc thăm nếu thời gian đăng ký vẫn còn. Chi tiết có trên trang tài khoản của bạn.",
		KeyRiskRestricted: "fairslot: người xét duyệt đã kiểm tra tài khoản của bạn và đã giới hạn tài khoản: số yêu cầu được phép ít hơn. " +
			"Trang tài khoản của bạn nêu lý do và cách yêu cầu xét duyệt lại.",
		KeyRiskBlocked: "fairslot: người xét duyệt đã kiểm tra tài khoản của bạn và đã chặn đặt lịch trực tuyến từ tài khoản này. " +
			"Trang tài khoản của bạn nêu lý do; bạn có thể yêu cầu xét duyệt lại ở đó hoặc tại quầy đăng ký.",
		KeyReferralApproved: "fairslot: yêu cầu khám {{.doctor}} ({{.department}}) cho {{.name}} đã được duyệt. " +
			"Bạn có thể bốc thăm hoặc đặt lịch đến {{.until}}.",
		KeyReferralDeclined: "fairslot: yêu cầu khám {{.doctor}} ({{.department}}) cho {{.name}} không được duyệt. " +
			"Lý do có trong mục Yêu cầu chuyển khám; phòng khám đa khoa có thể khám cho người bệnh.",
		KeyReferralRedirected: "fairslot: yêu cầu khám {{.doctor}} ({{.department}}) cho {{.name}} đã được chuyển tới {{.clinic}}. " +
			"Lý do có trong mục Yêu cầu chuyển khám; hãy đặt lịch {{.clinic}} như thường lệ.",
		KeyReferralExpired: "fairslot: bệnh viện chưa kịp xem yêu cầu khám {{.doctor}} ({{.department}}) cho {{.name}}. " +
			"Để bạn không lỡ đợt mở lịch đã đăng ký, bạn có thể bốc thăm hoặc đặt lịch đến {{.until}}. Với các đợt sau, hãy gửi yêu cầu lại.",
		KeyReferralLapsed: "fairslot: bệnh viện chưa kịp xem yêu cầu khám {{.doctor}} ({{.department}}) cho {{.name}}. " +
			"Vui lòng gửi lại yêu cầu trong mục Yêu cầu chuyển khám.",
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
	if err := t.Execute(&s, localDates(b.Lang, b.Params)); err != nil {
		return "", fmt.Errorf("message %q: %w", b.Key, err)
	}
	return s.String(), nil
}

// localDates returns params with the dates written as the message's
// language writes them (localdate): "date" (YYYY-MM-DD) and "pay_by"
// (YYYY-MM-DD HH:MM, the hospital's time) and "next_date", as the pages
// show them.
func localDates(lang string, params map[string]string) map[string]string {
	out := maps.Clone(params)
	if d, err := time.Parse(time.DateOnly, params["date"]); err == nil {
		out["date"] = localdate.Day(lang, d)
	}
	if d, err := time.Parse(time.DateOnly, params["next_date"]); err == nil {
		out["next_date"] = localdate.Day(lang, d)
	}
	if t, err := time.Parse("2006-01-02 15:04", params["pay_by"]); err == nil {
		out["pay_by"] = localdate.Stamp(lang, t)
	}
	return out
}
