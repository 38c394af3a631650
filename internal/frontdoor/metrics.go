package frontdoor

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fairslot/fairslot"
)

// metrics are the door's Prometheus series, resolved once so that counting
// a request costs an atomic add.
type metrics struct {
	total      *prometheus.CounterVec // lane, outcome, reason
	admitted   [lanes]prometheus.Counter
	wait       [lanes]prometheus.Observer
	challenges *prometheus.CounterVec // result
	// limitedPatient counts the per-patient limit, applied behind the door
	// in the patient lane.
	limitedPatient prometheus.Counter
	// streams counts open streams per listener; streamsAdmitted the streams
	// admitted (refused ones are in total, outcome "streams").
	streams         *prometheus.GaugeVec
	streamsAdmitted prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, d *Door) metrics {
	m := metrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fairslot_admission_total",
			Help: "Requests at the front door by lane and outcome (admitted, limited, challenged, shed) and reason."},
			[]string{"lane", "outcome", "reason"}),
		challenges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fairslot_challenges_total",
			Help: "Proof-of-work challenges issued, solved (accepted) and failed (refused)."}, []string{"result"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "fairslot_streams_open",
			Help: "Open long-lived streams (display events) per listener, outside the lanes."}, []string{"listener"}),
	}
	waits := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "fairslot_admission_queue_wait_seconds",
		Help:    "How long requests waited for a place in their lane, admitted or shed.",
		Buckets: []float64{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1, 2}}, []string{"lane"})
	reg.MustRegister(m.total, m.challenges, waits, m.streams)
	m.streamsAdmitted = m.total.WithLabelValues("stream", "admitted", "")
	for l := range lanes {
		m.admitted[l] = m.total.WithLabelValues(l.String(), "admitted", "")
		m.wait[l] = waits.WithLabelValues(l.String())
		lane := d.lanes[l]
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_admission_active", Help: "Requests running in each lane.",
				ConstLabels: prometheus.Labels{"lane": l.String()}}, func() float64 { return float64(lane.Active()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "fairslot_admission_waiting", Help: "Requests waiting for a place in each lane.",
				ConstLabels: prometheus.Labels{"lane": l.String()}}, func() float64 { return float64(lane.Waiting()) }))
	}
	m.limitedPatient = m.refused(Patient, limitReasons[byPatient])
	for _, r := range []string{"issued", "solved", "failed"} {
		m.challenges.WithLabelValues(r)
	}
	return m
}

// refused is the counter of one refusal reason ("limited_device",
// "challenge_expired", "shed_deadline") in a lane.
func (m metrics) refused(l Lane, reason string) prometheus.Counter {
	outcome, why, _ := strings.Cut(reason, "_")
	if outcome == "challenge" {
		outcome = "challenged"
	}
	return m.total.WithLabelValues(l.String(), outcome, why)
}

// refusalsFor makes a lane's refusals: 429 for a rate limit, 428 for a
// missing or bad challenge, 503 when the lane is full.
func refusalsFor(l Lane, m metrics) map[string]*refusal {
	out := map[string]*refusal{}
	add := func(reason string, status int, kind fairslot.Kind, msg string, page string) {
		var body struct {
			Error struct {
				Code    fairslot.Kind `json:"code"`
				Message string        `json:"message"`
			} `json:"error"`
		}
		body.Error.Code, body.Error.Message = kind, msg
		b, _ := json.Marshal(body)
		out[reason] = &refusal{counter: m.refused(l, reason), status: status, body: append(b, '\n'),
			page: []byte(`<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>fairslot</title>` + page)}
	}
	for k, name := range map[limitKind]string{byAccount: "this account", byDevice: "this device", byPrefix: "this network"} {
		add(limitReasons[k], http.StatusTooManyRequests, fairslot.Limited,
			"too many requests from "+name+"; wait the seconds in Retry-After", pageLimited)
	}
	for err, reason := range challengeReasons {
		add(reason, http.StatusPreconditionRequired, fairslot.ChallengeRequired, err.Error(), pageChallenge)
	}
	for _, reason := range shedReasons {
		add(reason, http.StatusServiceUnavailable, fairslot.Unavailable,
			"the server is busy; wait the seconds in Retry-After and try again", pageBusy)
	}
	for _, reason := range streamReasons {
		add(reason, http.StatusServiceUnavailable, fairslot.Unavailable,
			"too many open streams; wait the seconds in Retry-After and try again", pageBusy)
	}
	return out
}

// The refusals a browser shows as a page: fixed, in the pages' three
// languages, with no script (the door knows no visitor's language and must
// not spend time finding out).
const (
	pageLimited   = `<p lang="zh-CN">操作过于频繁，请稍等一分钟再试。<p lang="vi">Bạn thao tác quá nhanh, vui lòng chờ một phút rồi thử lại.<p lang="en">Too many requests: please wait a minute and try again.`
	pageBusy      = `<p lang="zh-CN">系统繁忙，请稍后再试。<p lang="vi">Hệ thống đang bận, vui lòng thử lại sau giây lát.<p lang="en">The system is busy: please try again in a moment.`
	pageChallenge = `<p lang="zh-CN">此操作需要浏览器启用 JavaScript，请返回重试。<p lang="vi">Thao tác này cần bật JavaScript trên trình duyệt; hãy quay lại và thử lại.<p lang="en">This needs JavaScript in your browser: go back and try again.`
)
