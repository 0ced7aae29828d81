package credential

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// API key format: APIKeyMarker followed by 32 random bytes in unpadded
// base64url (43 characters), 48 characters in all.
const (
	// APIKeyMarker starts every API key secret, so that leaked keys are easy
	// to recognise (by people and by secret scanners).
	APIKeyMarker = "stwk_"
	// APIKeyPrefixLen is the length of APIKey.Prefix: the marker and the first
	// seven characters of the random part.
	APIKeyPrefixLen = 12

	apiKeyRandLen = 32
	apiKeyLen     = len(APIKeyMarker) + 43
)

// apiKeyEncoding encodes the random part of API keys. Strict decoding refuses
// non-zero trailing bits, so each key has exactly one spelling.
var apiKeyEncoding = base64.RawURLEncoding.Strict()

// APIKey is a newly made API key.
type APIKey struct {
	// Secret is the whole key, shown to its owner once and never stored.
	Secret string
	// Prefix is the first APIKeyPrefixLen characters of Secret. It is not
	// secret: store it to find the key's record and to show the key in lists.
	Prefix string
	// Hash is HashAPIKey(Secret), the value to store and compare against.
	Hash string
}

// NewAPIKey returns a new API key with 32 random bytes from crypto/rand.
func NewAPIKey() (APIKey, error) {
	b := make([]byte, apiKeyRandLen)
	if _, err := rand.Read(b); err != nil {
		return APIKey{}, fmt.Errorf("credential: read api key: %w", err)
	}
	secret := APIKeyMarker + apiKeyEncoding.EncodeToString(b)
	return APIKey{Secret: secret, Prefix: secret[:APIKeyPrefixLen], Hash: HashAPIKey(secret)}, nil
}

// HashAPIKey returns the hex SHA-256 of secret. A fast hash is enough here,
// unlike for passwords: an API key carries 256 random bits, so a stolen hash
// cannot be reversed by guessing, however fast each guess is. Being
// deterministic, it can also serve as a lookup key.
func HashAPIKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// LooksLikeAPIKey reports whether s has the form of a secret made by NewAPIKey:
// the marker followed by 32 bytes in unpadded base64url. It says nothing about
// whether the key exists.
func LooksLikeAPIKey(s string) bool {
	rest, ok := strings.CutPrefix(s, APIKeyMarker)
	if !ok || len(s) != apiKeyLen {
		return false
	}
	b, err := apiKeyEncoding.DecodeString(rest)
	return err == nil && len(b) == apiKeyRandLen
}
