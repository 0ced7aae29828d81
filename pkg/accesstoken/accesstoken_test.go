package accesstoken

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

const (
	testIssuer   = "steward-directory"
	testAudience = "steward"
)

// now is the fixed clock of these tests.
var now = time.Unix(1_800_000_000, 0)

// testKey returns a deterministic key made from seed byte b.
func testKey(b byte) Key {
	return NewKey(ed25519.NewKeyFromSeed(bytesOf(b, ed25519.SeedSize)))
}

func bytesOf(b byte, n int) []byte { return []byte(strings.Repeat(string(rune(b)), n)) }

func newTestSigner(t testing.TB, keys ...Key) *Signer {
	t.Helper()
	s, err := NewSigner(testIssuer, testAudience, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testClaims() Claims {
	return Claims{
		Subject:      "organizations/o1/users/u42",
		Organization: "organizations/o1",
		SessionID:    "s-123",
		DisplayName:  "Ada Lovelace",
		Kind:         KindUser,
		IssuedAt:     now,
		Expiry:       now.Add(5 * time.Minute),
	}
}

func sign(t testing.TB, s *Signer, c Claims) string {
	t.Helper()
	raw, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// forge signs claims with key under algorithm alg and header kid, bypassing
// Signer.Sign's checks.
func forge(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// validClaims returns the claims of testClaims as a map, for forge.
func validClaims() map[string]any {
	return map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "organizations/o1/users/u42", "kind": KindUser,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}

func with(m map[string]any, k string, v any) map[string]any {
	if v == nil {
		delete(m, k)
	} else {
		m[k] = v
	}
	return m
}

func b64json(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// flipLowBit returns the base64url character c with the lowest of its six
// bits flipped.
func flipLowBit(c string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[strings.Index(alphabet, c)^1])
}

func claimsEqual(a, b Claims) bool {
	return a.Subject == b.Subject && a.Organization == b.Organization && a.SessionID == b.SessionID &&
		a.DisplayName == b.DisplayName && a.Kind == b.Kind && a.EnrollmentOnly == b.EnrollmentOnly &&
		a.SubjectCreated == b.SubjectCreated && a.SessionGeneration == b.SessionGeneration && a.IssuedAt.Equal(b.IssuedAt) && a.Expiry.Equal(b.Expiry)
}

func TestGenerateKeyID(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(k.Private.Public().(ed25519.PublicKey))
	if want := hex.EncodeToString(sum[:])[:16]; k.ID != want {
		t.Errorf("ID = %q, want %q", k.ID, want)
	}
	if k2, _ := GenerateKey(); k2.ID == k.ID {
		t.Error("two generated keys have one ID")
	}
}

func TestNewSignerErrors(t *testing.T) {
	k := testKey(1)
	for _, tc := range []struct {
		name             string
		issuer, audience string
		keys             []Key
	}{
		{"no keys", testIssuer, testAudience, nil},
		{"no issuer", "", testAudience, []Key{k}},
		{"no audience", testIssuer, "", []Key{k}},
		{"duplicate ID", testIssuer, testAudience, []Key{k, {ID: k.ID, Private: testKey(2).Private}}},
		{"short key", testIssuer, testAudience, []Key{{ID: "x", Private: k.Private[:32]}}},
		{"no ID", testIssuer, testAudience, []Key{{Private: k.Private}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewSigner(tc.issuer, tc.audience, tc.keys...); err == nil {
				t.Error("NewSigner succeeded")
			}
		})
	}
}

func TestSignRoundTrip(t *testing.T) {
	s := newTestSigner(t, testKey(1))
	for _, tc := range []struct {
		name string
		edit func(*Claims)
		at   time.Time
	}{
		{"user", func(*Claims) {}, now},
		{"robot", func(c *Claims) { c.Kind = KindRobotAccount; c.DisplayName = "" }, now},
		{"external app", func(c *Claims) { c.Kind = KindExternalApp }, now},
		{"enrollment only", func(c *Claims) { c.EnrollmentOnly = true }, now},
		// R10: the subject's create time, in nanoseconds, survives the round trip.
		{"subject create time", func(c *Claims) { c.SubjectCreated = 1_767_225_600_123_456_789 }, now},
		// Item 4 of issue 9: the session generation survives the round trip.
		{"session generation", func(c *Claims) { c.SessionGeneration = 7 }, now},
		{"sub-second times truncated", func(c *Claims) { c.IssuedAt = now.Add(time.Second / 2) }, now},
		{"just before expiry", func(*Claims) {}, now.Add(5*time.Minute - time.Second)},
		{"clock behind within leeway", func(*Claims) {}, now.Add(-29 * time.Second)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testClaims()
			tc.edit(&c)
			got, err := s.Verify(sign(t, s, c), tc.at)
			if err != nil {
				t.Fatal(err)
			}
			c.IssuedAt = c.IssuedAt.Truncate(time.Second)
			if !claimsEqual(got, c) {
				t.Errorf("Verify = %+v, want %+v", got, c)
			}
		})
	}
}

func TestClaimNames(t *testing.T) {
	s := newTestSigner(t, testKey(1))
	for _, enroll := range []bool{false, true} {
		c := testClaims()
		c.EnrollmentOnly = enroll
		raw := sign(t, s, c)
		header, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
		var h map[string]any
		if err := json.Unmarshal(header, &h); err != nil {
			t.Fatal(err)
		}
		if h["alg"] != "EdDSA" || h["kid"] != testKey(1).ID || h["typ"] != "JWT" {
			t.Errorf("header = %s", header)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[1])
		var p map[string]any
		if err := json.Unmarshal(payload, &p); err != nil {
			t.Fatal(err)
		}
		want := []string{"iss", "aud", "sub", "org", "sid", "name", "kind", "iat", "exp"}
		if enroll {
			want = append(want, "enroll")
		}
		for _, k := range want {
			if _, ok := p[k]; !ok {
				t.Errorf("payload %s has no %q", payload, k)
			}
		}
		if len(p) != len(want) {
			t.Errorf("payload %s has %d claims, want %d", payload, len(p), len(want))
		}
		c.SubjectCreated = 42
		payload, _ = base64.RawURLEncoding.DecodeString(strings.Split(sign(t, s, c), ".")[1])
		if !strings.Contains(string(payload), `"uct":42`) {
			t.Errorf("payload %s has no uct claim", payload)
		}
		c.SessionGeneration = 3
		payload, _ = base64.RawURLEncoding.DecodeString(strings.Split(sign(t, s, c), ".")[1])
		if !strings.Contains(string(payload), `"sgen":3`) {
			t.Errorf("payload %s has no sgen claim", payload)
		}
		if p["iss"] != testIssuer || p["org"] != c.Organization || p["exp"] != float64(c.Expiry.Unix()) {
			t.Errorf("payload = %s", payload)
		}
	}
}

func TestSignErrors(t *testing.T) {
	s := newTestSigner(t, testKey(1))
	for _, tc := range []struct {
		name string
		edit func(*Claims)
	}{
		{"no subject", func(c *Claims) { c.Subject = "" }},
		{"no kind", func(c *Claims) { c.Kind = "" }},
		{"unknown kind", func(c *Claims) { c.Kind = "admin" }},
		{"no issue time", func(c *Claims) { c.IssuedAt = time.Time{} }},
		{"no expiry", func(c *Claims) { c.Expiry = time.Time{} }},
		{"expiry before issue", func(c *Claims) { c.Expiry = c.IssuedAt.Add(-time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testClaims()
			tc.edit(&c)
			if raw, err := s.Sign(c); err == nil {
				t.Errorf("Sign = %q, want error", raw)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	key := testKey(1)
	s := newTestSigner(t, key)
	good := sign(t, s, testClaims())
	parts := strings.Split(good, ".")
	pub := []byte(key.Private.Public().(ed25519.PublicKey))

	tampered := testClaims()
	tampered.Subject = "organizations/o1/users/admin"
	otherIssuer, _ := NewSigner("someone-else", testAudience, key)
	otherAudience, _ := NewSigner(testIssuer, "another-service", key)
	huge := testClaims()
	huge.DisplayName = strings.Repeat("x", MaxTokenLen)
	sigBytes, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sigBytes[0] ^= 1
	noneHeader := b64json(t, map[string]any{"alg": "none", "typ": "JWT", "kid": key.ID})
	hsToken := forge(t, jose.HS256, pub, key.ID, validClaims())
	jsonForm := func() string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.ID}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		return jws.FullSerialize()
	}()

	for _, tc := range []struct {
		name string
		raw  string
		at   time.Time
	}{
		{"empty", "", now},
		{"garbage", "not a token", now},
		{"two segments", parts[0] + "." + parts[1], now},
		{"four segments", good + ".AAAA", now},
		{"JSON serialization", jsonForm, now},
		{"too long", sign(t, s, huge), now},
		{"tampered payload", parts[0] + "." + b64json(t, with(validClaims(), "sub", tampered.Subject)) + "." + parts[2], now},
		{"tampered header", b64json(t, map[string]any{"alg": "EdDSA", "kid": key.ID}) + "." + parts[1] + "." + parts[2], now},
		{"tampered signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sigBytes), now},
		{"signature trailing bits", good[:len(good)-1] + flipLowBit(good[len(good)-1:]), now},
		{"line break in signature", good[:len(good)-4] + "\n" + good[len(good)-4:], now},
		{"no signature", parts[0] + "." + parts[1] + ".", now},
		{"alg none", noneHeader + "." + parts[1] + ".", now},
		{"alg HS256 with public key", hsToken, now},
		{"wrong key under known kid", forge(t, jose.EdDSA, testKey(2).Private, key.ID, validClaims()), now},
		{"unknown kid", sign(t, newTestSigner(t, testKey(2)), testClaims()), now},
		{"mistyped generation", forge(t, jose.EdDSA, key.Private, key.ID, with(validClaims(), "sgen", -1)), now},
		{"no kid", forge(t, jose.EdDSA, key.Private, "", validClaims()), now},
		{"at expiry", good, now.Add(5 * time.Minute)},
		{"after expiry", good, now.Add(time.Hour)},
		{"issued in the future", good, now.Add(-31 * time.Second)},
		{"not before in the future", forge(t, jose.EdDSA, key.Private, key.ID, with(validClaims(), "nbf", now.Add(time.Minute).Unix())), now},
		{"wrong issuer", sign(t, otherIssuer, testClaims()), now},
		{"wrong audience", sign(t, otherAudience, testClaims()), now},
		{"no audience", forge(t, jose.EdDSA, key.Private, key.ID, with(validClaims(), "aud", nil)), now},
		{"no expiry", forge(t, jose.EdDSA, key.Private, key.ID, with(validClaims(), "exp", nil)), now},
		{"no issue time", forge(t, jose.EdDSA, key.Private, key.ID, with(validClaims(), "iat", nil)), now},
		{"no subject", forge(t, jose.EdDSA, key.Private, key.ID, with(validClaims(), "sub", nil)), now},
		{"unknown kind", forge(t, jose.EdDSA, key.Private, key.ID, with(validClaims(), "kind", "root")), now},
		{"mistyped claim", forge(t, jose.EdDSA, key.Private, key.ID, with(validClaims(), "enroll", "yes")), now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := s.Verify(tc.raw, tc.at)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify = %+v, %v; want ErrInvalid", c, err)
			}
		})
	}
	if _, err := s.Verify(good, now); err != nil {
		t.Fatalf("Verify(good) = %v; the refusals above prove nothing", err)
	}
	if _, err := s.Verify(good, now.Add(time.Hour)); !errors.Is(err, jwt.ErrExpired) {
		t.Errorf("Verify(expired) = %v, want it to wrap jwt.ErrExpired", err)
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	before := newTestSigner(t, oldKey)
	after := newTestSigner(t, newKey, oldKey)
	if _, err := after.Verify(sign(t, before, testClaims()), now); err != nil {
		t.Errorf("token signed with retired key: %v", err)
	}
	raw := sign(t, after, testClaims())
	if _, err := before.Verify(raw, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("old signer accepted token of new key: %v", err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if kid := tok.Headers[0].KeyID; kid != newKey.ID {
		t.Errorf("signed with kid %q, want the first key %q", kid, newKey.ID)
	}
}

func TestJWKS(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	s := newTestSigner(t, k1, k2)
	jwks := s.JWKS()
	if len(jwks) != 2 || jwks[0].Kid != k1.ID || jwks[1].Kid != k2.ID {
		t.Fatalf("JWKS = %+v", jwks)
	}
	b, err := json.Marshal(jwks[0])
	if err != nil {
		t.Fatal(err)
	}
	pub := k1.Private.Public().(ed25519.PublicKey)
	want := `{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(pub) +
		`","kid":"` + k1.ID + `","alg":"EdDSA","use":"sig"}`
	if string(b) != want {
		t.Errorf("JWK JSON = %s, want %s", b, want)
	}
	// Another JOSE library reads it back as the same key.
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(b, &jwk); err != nil {
		t.Fatal(err)
	}
	if got, ok := jwk.Key.(ed25519.PublicKey); !ok || !got.Equal(pub) || jwk.KeyID != k1.ID {
		t.Errorf("parsed JWK = %+v", jwk)
	}
}

func FuzzVerify(f *testing.F) {
	key := testKey(1)
	s := newTestSigner(f, key)
	good := sign(f, s, testClaims())
	f.Add(good)
	f.Add(forge(f, jose.EdDSA, testKey(2).Private, key.ID, validClaims()))
	f.Add(forge(f, jose.HS256, []byte(key.Private.Public().(ed25519.PublicKey)), key.ID, validClaims()))
	f.Add(b64json(f, map[string]any{"alg": "none", "kid": key.ID}) + "." + b64json(f, validClaims()) + ".")
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := s.Verify(raw, now)
		if err == nil && raw != good {
			t.Fatalf("Verify accepted %q as %+v", raw, c)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Verify error %v does not wrap ErrInvalid", err)
		}
	})
}

// TestKeySet: a KeySet made from a signer's JWKS verifies what the signer
// signs; a token under another key is ErrUnknownKey (and ErrInvalid), and
// nothing else is.
func TestKeySet(t *testing.T) {
	s := newTestSigner(t, testKey(1), testKey(2))
	ks, err := NewKeySet(testIssuer, testAudience, s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if ks.Len() != 2 {
		t.Errorf("Len = %d, want 2", ks.Len())
	}
	c := testClaims()
	c.SessionGeneration, c.SubjectCreated = 2, 5
	got, err := ks.Verify(sign(t, s, c), now)
	if err != nil || !claimsEqual(got, c) {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, c)
	}
	for _, tc := range []struct {
		name        string
		raw         string
		unknownKey  bool
		description string
	}{
		{"other key", sign(t, newTestSigner(t, testKey(3)), testClaims()), true, "a well-formed token under a kid the set lacks"},
		{"garbage", "x.y.z", false, "malformed tokens are not unknown keys"},
		{"expired", sign(t, s, testClaims()), false, "checked at a later time below"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := now
			if tc.name == "expired" {
				at = now.Add(time.Hour)
			}
			_, err := ks.Verify(tc.raw, at)
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownKey) != tc.unknownKey {
				t.Errorf("Verify = %v; want ErrInvalid, ErrUnknownKey %v (%s)", err, tc.unknownKey, tc.description)
			}
		})
	}
}

func TestNewKeySetErrors(t *testing.T) {
	good := testKey(1).JWK()
	edit := func(f func(*JWK)) JWK { j := good; f(&j); return j }
	for _, tc := range []struct {
		name string
		jwks []JWK
	}{
		{"RSA", []JWK{edit(func(j *JWK) { j.Kty = "RSA" })}},
		{"other curve", []JWK{edit(func(j *JWK) { j.Crv = "X25519" })}},
		{"other algorithm", []JWK{edit(func(j *JWK) { j.Alg = "HS256" })}},
		{"encryption key", []JWK{edit(func(j *JWK) { j.Use = "enc" })}},
		{"no kid", []JWK{edit(func(j *JWK) { j.Kid = "" })}},
		{"short x", []JWK{edit(func(j *JWK) { j.X = j.X[:20] })}},
		{"padded x", []JWK{edit(func(j *JWK) { j.X += "=" })}},
		{"duplicate kid", []JWK{good, edit(func(j *JWK) { j.X = testKey(2).JWK().X })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewKeySet(testIssuer, testAudience, tc.jwks); err == nil {
				t.Error("NewKeySet succeeded")
			}
		})
	}
	if _, err := NewKeySet("", testAudience, nil); err == nil {
		t.Error("NewKeySet without issuer succeeded")
	}
}

// TestVerifyRefusesNonCanonicalSegments: a genuine token spelled with other
// unused trailing bits in any of its three segments is refused (found by
// FuzzVerifyMutated: go-jose accepted another spelling of the header).
func TestVerifyRefusesNonCanonicalSegments(t *testing.T) {
	s := newTestSigner(t, testKey(1))
	good := sign(t, s, testClaims())
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	segments := strings.Split(good, ".")
	tried := 0
	for i, seg := range segments {
		if len(seg)%4 == 0 {
			continue // no unused bits to flip
		}
		last := strings.IndexByte(alphabet, seg[len(seg)-1])
		mutated := append([]string(nil), segments...)
		mutated[i] = seg[:len(seg)-1] + string(alphabet[last^1])
		raw := strings.Join(mutated, ".")
		if _, err := s.Verify(raw, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("segment %d spelled %q: Verify = %v, want ErrInvalid", i, mutated[i], err)
		}
		tried++
	}
	if tried == 0 {
		t.Fatal("no segment has unused bits; the test proves nothing")
	}
}
