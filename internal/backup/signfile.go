package backup

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
)

// SignBytes signs data in the backups' signature format (sign.go) under
// context, for other files the backup key vouches for (the downtime kit's
// manifest). The archive and keyset export contexts are refused, so such a
// signature never passes for theirs.
func SignBytes(key ed25519.PrivateKey, context string, data []byte) ([]byte, error) {
	if context == archiveContext || context == keysContext {
		return nil, fmt.Errorf("sign: %s is a backup context", context)
	}
	size, sum, err := digest(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	return sign(key, context, size, sum), nil
}

// VerifyBytes checks sig, made by SignBytes under context, against the
// pinned key and data; what names the file in errors.
func VerifyBytes(pinned ed25519.PublicKey, context string, sig, data []byte, what string) error {
	return verify(pinned, context, sig, bytes.NewReader(data), what)
}
