package storage

import (
	"context"
	"time"
)

// FHIRSubscription is a FHIR client's standing request to be told when
// Appointments change (rest-hook). DoctorID and DepartmentID narrow it (0:
// any); the criteria string is kept as the client wrote it, for reading
// back. The key its deliveries are signed with is derived from the
// keyset and ID, never stored.
type FHIRSubscription struct {
	ID           string
	ClientID     string
	Criteria     string
	DoctorID     int64
	DepartmentID int64
	Reason       string
	Endpoint     string
	Base         string // the facade's URL as the client reached it: the notifications' references
	Status       string // FHIRSubActive, FHIRSubError or FHIRSubOff
	Error        string // why it is in error
	CreatedAt    time.Time
	ChangedAt    time.Time
}

// The statuses a subscription has: "off" is a deleted one.
const (
	FHIRSubActive = "active"
	FHIRSubError  = "error"
	FHIRSubOff    = "off"
)

// FHIRChange is a change to a booking or a waitlist place that
// subscriptions may want: its audit record's seq and action, and what
// changed — Kind "booking" or "waitlist", and its ID.
type FHIRChange struct {
	Seq    int64
	Kind   string
	ID     int64
	Action string
	At     time.Time
}

// FHIRDelivery is one notification due to one subscription, with the
// subscription it goes to.
type FHIRDelivery struct {
	ID            int64
	Subscription  FHIRSubscription
	ClientRevoked bool
	EventSeq      int64
	Focus         string // e.g. Appointment/12
	Action        string
	CreatedAt     time.Time
	Attempts      int
}

// FHIRSubscriptions are the storage of the FHIR facade's subscriptions and
// their deliveries. A subscription's endpoint, key and client never change;
// its status goes from active to error or off, and from error to off.
type FHIRSubscriptions interface {
	// CreateFHIRSubscription stores an active subscription.
	CreateFHIRSubscription(ctx context.Context, s FHIRSubscription) error
	// FHIRSubscription returns a subscription, off or not: NotFound if none.
	FHIRSubscription(ctx context.Context, id string) (FHIRSubscription, error)
	// ListFHIRSubscriptions lists a client's subscriptions that are not
	// off ("" for every client's), oldest first.
	ListFHIRSubscriptions(ctx context.Context, clientID string) ([]FHIRSubscription, error)
	// SetFHIRSubscriptionStatus puts a subscription in error (from active)
	// or off (from active or error), with the reason: a Conflict if it is
	// not in a status it can leave so, NotFound if there is none.
	SetFHIRSubscriptionStatus(ctx context.Context, id, status, reason string, at time.Time) error
	// FanOutFHIRChange writes one pending delivery of c, due at once, for
	// every active subscription of a client not revoked whose doctor and
	// department match the changed booking's or waitlist place's. A second
	// call for the same change writes nothing (unique per subscription and
	// seq). It reports how many it wrote.
	FanOutFHIRChange(ctx context.Context, c FHIRChange) (int, error)
	// DueFHIRDeliveries lists up to limit pending deliveries due at now,
	// oldest first.
	DueFHIRDeliveries(ctx context.Context, now time.Time, limit int) ([]FHIRDelivery, error)
	// AttemptFHIRDelivery records attempt number attempts (the previous
	// count plus one) and when the next may start: a Conflict if the
	// delivery changed since it was read.
	AttemptFHIRDelivery(ctx context.Context, id int64, attempts int, next time.Time) error
	// FinishFHIRDelivery marks a pending delivery sent or dead (with why): a
	// Conflict if it is not pending.
	FinishFHIRDelivery(ctx context.Context, id int64, status OutboxStatus, at time.Time, reason string) error
	// FHIRDeliveries lists a subscription's deliveries, oldest first (for
	// tests and the admin's look).
	FHIRDeliveries(ctx context.Context, subscriptionID string) ([]FHIRDeliveryState, error)
}

// FHIRDeliveryState is a delivery as it stands.
type FHIRDeliveryState struct {
	ID       int64
	EventSeq int64
	Focus    string
	Action   string
	Status   OutboxStatus
	Attempts int
	Error    string
}
