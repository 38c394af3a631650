package risk

// Link is another account an account shares a device, an address prefix or
// a payer with, for a reviewer: Via says which, Masked shows the first four
// characters of the shared id (never the whole). It lives here, not in the
// monitor that computes it, so that the app can name it without importing
// the monitor.
type Link struct {
	Account int64
	Via     string // "device", "prefix", "payer"
	Masked  string
}
