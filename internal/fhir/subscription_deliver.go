package fhir

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fairslot/fairslot"
	"github.com/fairslot/fairslot/internal/app"
	"github.com/fairslot/fairslot/internal/notify"
	"github.com/fairslot/fairslot/internal/storage"
)

// Deliverer sends the Subscriptions' notifications: the job leader runs it
// beside the patients' outbox (cmd/fairslot's backgroundJobs), never a
// request. It works as the outbox's dispatcher does (internal/notify): each
// pass takes the due pending deliveries and, in one transaction, records
// an attempt for each — a lease: the next attempt may start only after
// the backoff plus the send timeout, so a leader that died mid-send leaves
// the delivery alone until then — then POSTs each one, and marks the
// answered ones sent. A delivery is POSTed again only when its attempt
// failed or its outcome was never recorded, always with the same
// X-Fairslot-Delivery id, which the receiver may use to drop a repeat.
// A delivery that fails MaxAttempts times, or that the receiver refuses
// for good (410 Gone), or whose endpoint's address the policy refuses, is
// dead, and its subscription goes to error with the reason: a client
// whose receiver is gone gets no more tries until it makes a new
// subscription. A delivery of a subscription deleted or in error, or of a
// revoked client, is dropped unsent.
type Deliverer struct {
	App    *app.Service
	Policy SubscriptionPolicy
	Log    *slog.Logger
	// Retry is the outbox's scheme (SendTimeout 0: 10s).
	notify.Retry
	// Client POSTs the notifications; nil: one that checks each
	// connection's address against Policy, uses no proxy and follows no
	// redirect.
	Client              *http.Client
	once                sync.Once
	sent, retried, dead atomic.Int64
}

// DeliveryStats are the deliverer's counts since it started.
type DeliveryStats struct{ Sent, Retried, Dead int64 }

// Stats reports the counts.
func (d *Deliverer) Stats() DeliveryStats {
	return DeliveryStats{Sent: d.sent.Load(), Retried: d.retried.Load(), Dead: d.dead.Load()}
}

func (d *Deliverer) init() {
	d.once.Do(func() {
		d.Defaults(10 * time.Second)
		if d.Log == nil {
			d.Log = slog.New(slog.DiscardHandler)
		}
		if d.Client == nil {
			dialer := &net.Dialer{Timeout: d.SendTimeout, Control: d.Policy.control}
			d.Client = &http.Client{
				Transport: &http.Transport{Proxy: nil, DialContext: dialer.DialContext, TLSHandshakeTimeout: d.SendTimeout,
					MaxIdleConnsPerHost: 2, IdleConnTimeout: time.Minute, ForceAttemptHTTP2: true},
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
		}
	})
}

// Run passes over the deliveries until ctx ends, every poll, while leading
// reports true (the job lock; nil: always).
func (d *Deliverer) Run(ctx context.Context, poll time.Duration, leading func() bool) {
	d.init()
	d.Passes(ctx, poll, leading, nil, d.Pass, func(err error) { d.Log.Error("fhir: subscription delivery pass failed", "err", err) })
}

// Pass sends the deliveries due now, reporting how many it took.
func (d *Deliverer) Pass(ctx context.Context) (int, error) {
	d.init()
	now := d.App.Now()
	var due []storage.FHIRDelivery
	err := d.App.Store.Update(ctx, func(tx storage.Tx) error {
		var err error
		if due, err = tx.DueFHIRDeliveries(ctx, now, d.Batch); err != nil {
			return err
		}
		for i := range due {
			due[i].Attempts++
			if err := tx.AttemptFHIRDelivery(ctx, due[i].ID, due[i].Attempts, now.Add(d.Wait(due[i].Attempts)+d.SendTimeout)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var sent []int64
	for _, del := range due {
		if ctx.Err() != nil {
			break // the lease lapses and the next leader sends it
		}
		var drop string
		switch {
		case del.ClientRevoked:
			drop = "the subscription's client is revoked"
		case del.Subscription.Status != storage.FHIRSubActive:
			drop = "the subscription is " + del.Subscription.Status
		}
		if drop != "" {
			err = errors.Join(err, d.App.FailFHIRDelivery(ctx, del, drop, false))
			continue
		}
		sendErr := d.post(ctx, del)
		switch {
		case sendErr == nil:
			d.sent.Add(1)
			sent = append(sent, del.ID)
		case isPermanent(sendErr) || del.Attempts >= d.MaxAttempts:
			d.dead.Add(1)
			reason := fmt.Sprintf("delivery %d failed after %d attempts: %v", del.ID, del.Attempts, sendErr)
			if isPermanent(sendErr) {
				reason = fmt.Sprintf("delivery %d refused for good: %v", del.ID, sendErr)
			}
			d.Log.Error("ALERT: fhir: a subscription's notification cannot be delivered; the subscription is in error",
				"subscription", del.Subscription.ID, "client", del.Subscription.ClientID, "delivery", del.ID, "err", sendErr)
			err = errors.Join(err, d.App.FailFHIRDelivery(ctx, del, reason, true))
		default:
			d.retried.Add(1)
			d.Log.Warn("fhir: a subscription's notification failed; it will be tried again",
				"subscription", del.Subscription.ID, "delivery", del.ID, "attempt", del.Attempts, "err", sendErr)
		}
	}
	if len(sent) > 0 {
		// Recorded even as the server stops, so that a sent notification is
		// not sent again after the restart.
		finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		at := d.App.Now()
		err = errors.Join(err, d.App.Store.Update(finishCtx, func(tx storage.Tx) error {
			for _, id := range sent {
				if err := tx.FinishFHIRDelivery(finishCtx, id, storage.OutboxSent, at, ""); err != nil && fairslot.ErrorKind(err) != fairslot.Conflict {
					return err
				}
			}
			return nil
		}))
	}
	return len(due), err
}

type permanentError struct{ error }

func isPermanent(err error) bool {
	var p permanentError
	var refused errRefusedAddress
	return errors.As(err, &p) || errors.As(err, &refused)
}

// post sends one notification, signed.
func (d *Deliverer) post(ctx context.Context, del storage.FHIRDelivery) error {
	body, err := json.Marshal(d.notification(del))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.SendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, del.Subscription.Endpoint, bytes.NewReader(body))
	if err != nil {
		return permanentError{fmt.Errorf("the endpoint cannot be called: %w", err)}
	}
	ts := d.App.Now().Unix()
	req.Header.Set("Content-Type", "application/fhir+json; charset=utf-8")
	req.Header.Set("User-Agent", "fairslot-subscriptions")
	req.Header.Set("X-Fairslot-Subscription", del.Subscription.ID)
	req.Header.Set("X-Fairslot-Delivery", strconv.FormatInt(del.ID, 10))
	req.Header.Set(SignatureHeader, Sign(d.App.FHIRSubscriptionKey(del.Subscription.ID), ts, body))
	resp, err := d.Client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return errors.New("the endpoint did not answer in time")
		}
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusGone:
		return permanentError{errors.New("the endpoint answered 410 Gone")}
	}
	return fmt.Errorf("the endpoint answered %d", resp.StatusCode)
}

// Sign is the signature header's value for a body sent at ts (Unix
// seconds): "t=<ts>,v1=<hex HMAC-SHA256(key, "<ts>." + body)>". A receiver
// recomputes it with the key it was given, compares in constant time, and
// refuses a timestamp more than a few minutes from its clock.
func Sign(key []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	t := strconv.FormatInt(ts, 10)
	m.Write([]byte(t + "."))
	m.Write(body)
	return "t=" + t + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against a body, as a receiver would:
// the timestamp within tolerance of now, the MAC the key's.
func Verify(key []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts int64
	var mac string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts, _ = strconv.ParseInt(v, 10, 64)
		case "v1":
			mac = v
		}
	}
	if ts == 0 || mac == "" {
		return errors.New("the signature header is malformed")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("the signature's timestamp is too far from now")
	}
	want := Sign(key, ts, body)
	if !hmac.Equal([]byte(want), []byte("t="+strconv.FormatInt(ts, 10)+",v1="+mac)) {
		return errors.New("the signature does not match")
	}
	return nil
}

// notificationBundle is an R4 history Bundle modelled on the Subscriptions
// Backport IG's id-only event notification: a Parameters entry saying
// which subscription and event, and the focus Appointment's entry with
// its reference and no resource.
type notificationBundle struct {
	ResourceType string              `json:"resourceType"`
	ID           string              `json:"id"`
	Type         string              `json:"type"`
	Timestamp    string              `json:"timestamp"`
	Entry        []notificationEntry `json:"entry"`
}

type notificationEntry struct {
	FullURL  string        `json:"fullUrl"`
	Resource *parameters   `json:"resource,omitempty"`
	Request  entryRequest  `json:"request"`
	Response entryResponse `json:"response"`
}

type entryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type entryResponse struct {
	Status string `json:"status"`
}

type parameters struct {
	ResourceType string      `json:"resourceType"`
	Parameter    []parameter `json:"parameter"`
}

type parameter struct {
	Name           string      `json:"name"`
	ValueReference *Reference  `json:"valueReference,omitempty"`
	ValueCode      string      `json:"valueCode,omitempty"`
	ValueString    string      `json:"valueString,omitempty"`
	ValueInstant   string      `json:"valueInstant,omitempty"`
	Part           []parameter `json:"part,omitempty"`
}

// focusID is the Appointment id of a delivery's focus (booking:12 →
// 12, waitlist:3 → w3).
func focusID(focus string) string {
	kind, id, _ := strings.Cut(focus, ":")
	if kind == "waitlist" {
		n, _ := strconv.ParseInt(id, 10, 64)
		return waitlistID(n)
	}
	return id
}

func (d *Deliverer) notification(del storage.FHIRDelivery) notificationBundle {
	base := strings.TrimSuffix(del.Subscription.Base, "/")
	appt := "Appointment/" + focusID(del.Focus)
	sub := "Subscription/" + del.Subscription.ID
	var u [16]byte
	rand.Read(u[:])
	u[6], u[8] = u[6]&0x0f|0x40, u[8]&0x3f|0x80
	h := hex.EncodeToString(u[:])
	uuid := h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	at := del.CreatedAt.In(d.App.Location).Format("2006-01-02T15:04:05.000Z07:00")
	return notificationBundle{ResourceType: "Bundle", ID: uuid, Type: "history", Timestamp: at,
		Entry: []notificationEntry{
			{FullURL: "urn:uuid:" + uuid, Resource: &parameters{ResourceType: "Parameters", Parameter: []parameter{
				{Name: "subscription", ValueReference: &Reference{Reference: base + "/" + sub}},
				{Name: "status", ValueCode: "active"},
				{Name: "type", ValueCode: "event-notification"},
				{Name: "notification-event", Part: []parameter{
					{Name: "event-number", ValueString: strconv.FormatInt(del.EventSeq, 10)},
					{Name: "timestamp", ValueInstant: at},
					{Name: "focus", ValueReference: &Reference{Reference: base + "/" + appt}},
				}},
			}}, Request: entryRequest{Method: "GET", URL: sub + "/$status"}, Response: entryResponse{Status: "200"}},
			{FullURL: base + "/" + appt, Request: entryRequest{Method: "PUT", URL: appt}, Response: entryResponse{Status: "200"}},
		}}
}
