// Package credential holds the secrets of the directory service: password
// hashes (argon2id), API keys and TOTP second factors. It knows nothing about
// accounts or storage; callers keep the encoded hashes and secrets it returns.
package credential

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters of new hashes: the OWASP minimum (19 MiB, 2 passes, one
// lane). Stored hashes carry their own parameters, so raising these later only
// affects hashes made afterwards.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Bounds on the parameters VerifyPassword accepts, so that a forged or corrupted
// hash cannot make verification allocate or compute without limit.
const (
	maxMemory  = 256 * 1024 // KiB (256 MiB)
	maxTime    = 10
	maxThreads = 16
	minSaltLen = 8
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
)

// ErrMalformedHash is returned by VerifyPassword when the encoded hash is not an
// argon2id PHC string within the accepted parameter bounds.
var ErrMalformedHash = errors.New("credential: malformed password hash")

// b64 is the base64 variant of PHC strings: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// decodeB64 decodes s, accepting only the spelling b64 itself would produce:
// decoders skip line breaks and may ignore trailing bits, which would give one
// hash many encodings.
func decodeB64(s string) ([]byte, error) {
	b, err := b64.DecodeString(s)
	if err == nil && b64.EncodeToString(b) != s {
		err = errors.New("non-canonical base64")
	}
	return b, err
}

// argonHash is a parsed argon2id PHC string.
type argonHash struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// String formats h as a PHC string:
// $argon2id$v=19$m=<memory>,t=<time>,p=<threads>$<salt>$<key>.
func (h argonHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, h.memory, h.time, h.threads, b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

// compute returns the argon2id key of password under h's parameters and salt.
func (h argonHash) compute(password string) []byte {
	return argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
}

// HashPassword hashes password with argon2id and a fresh random salt and returns
// it encoded as a PHC string, for example
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>".
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("credential: read salt: %w", err)
	}
	h := argonHash{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt}
	h.key = argon2.IDKey([]byte(password), salt, h.time, h.memory, h.threads, argonKeyLen)
	return h.String(), nil
}

// VerifyPassword reports whether password matches encoded, a PHC string made by
// HashPassword. It recomputes the hash with the parameters stored in encoded and
// compares in constant time. It returns an error wrapping ErrMalformedHash, and
// false, when encoded cannot be parsed or its parameters are out of bounds.
func VerifyPassword(encoded, password string) (bool, error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(h.compute(password), h.key) == 1, nil
}

// dummyHash is the hash of a random password thrown away after hashing, made
// with the same parameters as HashPassword. TestDummyHashParameters keeps the
// two in step.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$oolLxEzWMX0Bs4ogKgGjPw$GfR4nwnLGauzcHegVcdrUPPeQQVr3WgowO4eELxFSxQ"

// dummy is dummyHash parsed once.
var dummy = mustParseHash(dummyHash)

// VerifyDummy does the work of VerifyPassword against a fixed hash and discards
// the result. Call it when a sign-in names an account that does not exist, so
// that the failure takes as long as a wrong password and does not reveal
// whether the account exists.
func VerifyDummy(password string) {
	_ = subtle.ConstantTimeCompare(dummy.compute(password), dummy.key)
}

// mustParseHash is parseHash for hashes fixed at compile time.
func mustParseHash(s string) argonHash {
	h, err := parseHash(s)
	if err != nil {
		panic(err)
	}
	return h
}

// parseHash parses an argon2id PHC string and checks its parameters against the
// package bounds. It accepts only the canonical form String produces, so a
// parsed hash always formats back to its input.
func parseHash(s string) (argonHash, error) {
	var h argonHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformedHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, fmt.Errorf("%w: want parameters m,t,p", ErrMalformedHash)
	}
	m, err := parseParam(params[0], "m", maxMemory)
	if err != nil {
		return h, err
	}
	t, err := parseParam(params[1], "t", maxTime)
	if err != nil {
		return h, err
	}
	p, err := parseParam(params[2], "p", maxThreads)
	if err != nil {
		return h, err
	}
	if m < 8*p {
		return h, fmt.Errorf("%w: memory below 8 KiB per lane", ErrMalformedHash)
	}
	h.memory, h.time, h.threads = m, t, uint8(p)
	if h.salt, err = decodeB64(parts[4]); err != nil || len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen {
		return h, fmt.Errorf("%w: bad salt", ErrMalformedHash)
	}
	if h.key, err = decodeB64(parts[5]); err != nil || len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
		return h, fmt.Errorf("%w: bad hash", ErrMalformedHash)
	}
	return h, nil
}

// parseParam parses "<name>=<n>" with n a canonical decimal in [1, max].
func parseParam(s, name string, max uint32) (uint32, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, fmt.Errorf("%w: want parameter %s", ErrMalformedHash, name)
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n < 1 || n > uint64(max) || v != strconv.FormatUint(n, 10) {
		return 0, fmt.Errorf("%w: parameter %s out of range", ErrMalformedHash, name)
	}
	return uint32(n), nil
}
