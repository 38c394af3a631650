//go:build !race

package frontdoor_test

// raceDetector is true when the tests run under the race detector, which
// slows every goroutine several times over.
const raceDetector = false
