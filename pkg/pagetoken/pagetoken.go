// Package pagetoken makes the opaque page tokens of AIP-158 List methods. A
// token records where the previous page stopped (the last store key returned)
// and a fingerprint of the request's other parameters, so that a token cannot be
// replayed against a different parent, filter or order: that is refused as
// invalid rather than silently returning the wrong page.
package pagetoken

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/fnv"
)

// ErrInvalid is returned for tokens that are malformed or were issued for a
// request with other parameters.
var ErrInvalid = errors.New("pagetoken: invalid page token")

// version is the first byte of every token; bump it when the layout changes.
const version = 1

// maxKeyLength bounds the decoded key, so a forged token cannot make a request
// allocate much.
const maxKeyLength = 4096

// Fingerprint hashes the parameters of a List request that must stay the same
// across its pages (parent, filter, order_by, …). Page size is not one of them.
func Fingerprint(params ...string) uint64 {
	h := fnv.New64a()
	for _, p := range params {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		h.Write([]byte(p))
	}
	return h.Sum64()
}

// Encode returns the token continuing after lastKey for a request with the
// given fingerprint.
func Encode(lastKey []byte, fingerprint uint64) string {
	b := make([]byte, 0, 1+8+len(lastKey))
	b = append(b, version)
	b = binary.BigEndian.AppendUint64(b, fingerprint)
	b = append(b, lastKey...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the key a token continues after. An empty token means the
// first page and returns a nil key.
func Decode(token string, fingerprint uint64) ([]byte, error) {
	if token == "" {
		return nil, nil
	}
	if base64.RawURLEncoding.DecodedLen(len(token)) > 1+8+maxKeyLength {
		return nil, ErrInvalid
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	// The decoder skips newlines; only the canonical spelling is a token.
	if err != nil || len(b) < 1+8+1 || b[0] != version || base64.RawURLEncoding.EncodeToString(b) != token {
		return nil, ErrInvalid
	}
	if binary.BigEndian.Uint64(b[1:9]) != fingerprint {
		return nil, ErrInvalid
	}
	return b[9:], nil
}
