package gate

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// Signer makes and checks values that carry their own HMAC, so the front
// door can tell a bearer token or a device cookie this server issued from a
// made-up one without a database look-up. A signed value proves only that
// the server issued it; whether it is still valid (a token not revoked) is
// for the code behind the door to decide.
type Signer []byte

// signedMAC is the length of the tag: 128 bits is beyond guessing.
const signedMAC = 16

// Sign returns payload and its tag, base64url without padding.
func (k Signer) Sign(payload []byte) string {
	b := append(payload[:len(payload):len(payload)], k.tag(payload)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Verify returns the payload of a value Sign made with this key.
func (k Signer) Verify(s string) (payload []byte, ok bool) {
	if len(s) > 256 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < signedMAC {
		return nil, false
	}
	payload = b[:len(b)-signedMAC]
	return payload, hmac.Equal(b[len(b)-signedMAC:], k.tag(payload))
}

func (k Signer) tag(payload []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write(payload)
	return m.Sum(nil)[:signedMAC]
}
