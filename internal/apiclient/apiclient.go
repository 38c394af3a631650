// Package apiclient is a small Go client for fairslot's JSON API that
// solves the front door's proof-of-work challenges when a request needs
// one: the solver for Go clients (the browser's is the static pow.js). The
// simulator and the tests use it. It never retries on its own except to
// answer a challenge.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/fairslot/fairslot/internal/frontdoor"
	"github.com/fairslot/fairslot/internal/gate"
)

// Client calls one server as one client: its device and, once logged in,
// its bearer token.
type Client struct {
	HTTP   *http.Client
	Base   string // e.g. http://127.0.0.1:8080
	Token  string
	Device string // the signed device ID the server issued (in a cookie, or with a challenge)
	// Solved counts challenges solved; Bits the work they took (sum of bits).
	Solved, Bits int
}

// Response is an answer: its status, headers and body.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode reads the body as JSON into v.
func (r *Response) Decode(v any) error { return json.Unmarshal(r.Body, v) }

// Do sends a request with an optional JSON body and extra headers. When
// the server answers 428 it gets a challenge, solves it and sends the
// request once more with the solution; prove solves one before the first
// try, for a request known to need it.
func (c *Client) Do(ctx context.Context, method, path string, body any, header map[string]string, prove bool) (*Response, error) {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	var solved map[string]string
	for try := 0; ; try++ {
		if prove || try > 0 {
			refused, err := c.solve(ctx, &solved)
			if refused != nil || err != nil {
				return refused, err // no challenge to be had: the refusal is the answer
			}
		}
		resp, err := c.send(ctx, method, path, data, header, solved)
		if err != nil || resp.Status != http.StatusPreconditionRequired || try > 0 {
			return resp, err
		}
	}
}

func (c *Client) send(ctx context.Context, method, path string, data []byte, headers ...map[string]string) (*Response, error) {
	var body io.Reader
	if data != nil {
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return nil, err
	}
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Device != "" {
		req.Header.Set("X-Device-ID", c.Device)
	}
	for _, h := range headers {
		for k, v := range h {
			req.Header.Set(k, v)
		}
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == frontdoor.DeviceCookie && c.Device == "" {
			c.Device = ck.Value // the device the front door issued this client
		}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, err
}

// solve gets a challenge for this client's device and solves it, setting
// the headers that carry the solution; when the server refuses a challenge
// (a rate limit, a full lane) it returns that refusal; when it has none to
// give (its front door is off) it sets nothing.
func (c *Client) solve(ctx context.Context, solved *map[string]string) (refused *Response, err error) {
	resp, err := c.send(ctx, "GET", "/api/v1/challenge", nil)
	if err != nil {
		return nil, err
	}
	if resp.Status == http.StatusNotFound {
		return nil, nil // challenges are off on this server: send without one
	}
	if resp.Status != http.StatusOK {
		return resp, nil
	}
	var ch struct {
		Challenge string `json:"challenge"`
		Bits      int    `json:"bits"`
		Device    string `json:"device"`
	}
	if err := resp.Decode(&ch); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	c.Device = ch.Device
	sol, err := gate.Solve(ctx, ch.Challenge, ch.Bits)
	if err != nil {
		return nil, err
	}
	c.Solved++
	c.Bits += ch.Bits
	*solved = map[string]string{frontdoor.ChallengeHeader: ch.Challenge, frontdoor.SolutionHeader: sol}
	return nil, nil
}
