package accesstoken

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// testFormat is a token format other than the access token's, as the
// licensing service's lease tokens are (R24).
var testFormat = Format{Issuer: "steward-test", Audience: "steward-test-aud", Type: "test+jwt"}

// testPrivate is a private claim set of testFormat.
type testPrivate struct {
	Machine string `json:"machine"`
	Count   int64  `json:"count,omitempty"`
}

func newFormatSigner(t testing.TB, f Format, keys ...Key) *Signer {
	t.Helper()
	s, err := NewFormatSigner(f, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testRegistered() Registered {
	return Registered{Subject: "organizations/o1/users/u42", ID: "organizations/o1/leases/l1", IssuedAt: now, Expiry: now.Add(5 * time.Minute)}
}

func decodeSegment(t testing.TB, raw string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestSignWithVerifyWith: another claim set goes through the same machinery:
// registered and private claims survive, with the format's typ, issuer and
// audience.
func TestSignWithVerifyWith(t *testing.T) {
	s := newFormatSigner(t, testFormat, testKey(1))
	r := testRegistered()
	raw, err := s.SignWith(r, testPrivate{Machine: "m1", Count: 1 << 60})
	if err != nil {
		t.Fatal(err)
	}
	if h := decodeSegment(t, raw, 0); h["typ"] != "test+jwt" || h["alg"] != "EdDSA" || h["kid"] != testKey(1).ID {
		t.Errorf("header = %v", h)
	}
	p := decodeSegment(t, raw, 1)
	for _, k := range []string{"iss", "aud", "sub", "jti", "iat", "exp", "machine", "count"} {
		if _, ok := p[k]; !ok {
			t.Errorf("payload %v has no %q", p, k)
		}
	}
	if len(p) != 8 || p["iss"] != testFormat.Issuer || p["jti"] != r.ID {
		t.Errorf("payload = %v", p)
	}
	ks, err := NewFormatKeySet(testFormat, s.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	var priv testPrivate
	got, err := ks.VerifyWith(raw, now, &priv)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != r.Subject || got.ID != r.ID || !got.IssuedAt.Equal(r.IssuedAt) || !got.Expiry.Equal(r.Expiry) {
		t.Errorf("VerifyWith = %+v, want %+v", got, r)
	}
	if priv != (testPrivate{Machine: "m1", Count: 1 << 60}) {
		t.Errorf("private claims = %+v", priv)
	}
	// Without private claims, and without sub or jti.
	raw, err = s.SignWith(Registered{IssuedAt: now, Expiry: now.Add(time.Minute)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := decodeSegment(t, raw, 1); len(p) != 4 {
		t.Errorf("payload without private claims = %v", p)
	}
	if got, err := s.VerifyWith(raw, now, nil); err != nil || got.Subject != "" || got.ID != "" {
		t.Errorf("VerifyWith = %+v, %v", got, err)
	}
	// A map works as private claims too.
	raw, err = s.SignWith(r, map[string]any{"machine": "m2"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyWith(raw, now, &priv); err != nil || priv.Machine != "m2" {
		t.Errorf("VerifyWith = %+v, %v", priv, err)
	}
}

func TestSignWithErrors(t *testing.T) {
	s := newFormatSigner(t, testFormat, testKey(1))
	type shadow struct {
		Exp int64 `json:"exp"`
	}
	for _, tc := range []struct {
		name    string
		r       Registered
		private any
	}{
		{"no issue time", Registered{Expiry: now}, nil},
		{"no expiry", Registered{IssuedAt: now}, nil},
		{"expiry at issue", Registered{IssuedAt: now, Expiry: now}, nil},
		{"private exp", testRegistered(), shadow{Exp: 1}},
		{"private iss", testRegistered(), map[string]any{"iss": "steward-directory"}},
		{"private aud", testRegistered(), map[string]any{"aud": "steward"}},
		{"private nbf", testRegistered(), map[string]any{"nbf": 0}},
		{"private not an object", testRegistered(), "machine"},
		{"private null", testRegistered(), (*testPrivate)(nil)},
		{"private not JSON", testRegistered(), map[string]any{"f": func() {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if raw, err := s.SignWith(tc.r, tc.private); err == nil {
				t.Errorf("SignWith = %q, want error", raw)
			}
		})
	}
}

// TestFormatType: a key set of a format with a type takes only tokens of that
// type (spelled any way RFC 7515 allows), and refuses others before looking
// up their key, so that they never cost a RemoteKeySet a fetch. Issuer and
// audience keep formats apart too.
func TestFormatType(t *testing.T) {
	key := testKey(1)
	ks, err := NewFormatKeySet(testFormat, []JWK{key.JWK()})
	if err != nil {
		t.Fatal(err)
	}
	typed := func(typ string, k Key) string {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
		if typ == "" {
			opts = nil
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jwt.Signed(signer).Claims(map[string]any{
			"iss": testFormat.Issuer, "aud": testFormat.Audience, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	for _, typ := range []string{"test+jwt", "TEST+JWT", "application/test+jwt", "Application/Test+JWT"} {
		if _, err := ks.VerifyWith(typed(typ, key), now, nil); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
	for _, typ := range []string{"", "JWT", "test", "test+jwt ", "text/test+jwt", "application/JWT", "at+jwt"} {
		for _, k := range []Key{key, testKey(2)} {
			_, err := ks.VerifyWith(typed(typ, k), now, nil)
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUnknownKey) {
				t.Errorf("typ %q, key %s: VerifyWith = %v, want ErrInvalid and not ErrUnknownKey", typ, k.ID, err)
			}
		}
	}
	// A typ that is not a string.
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.ID}},
		(&jose.SignerOptions{}).WithHeader(jose.HeaderType, 1))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(map[string]any{"iss": testFormat.Issuer, "aud": testFormat.Audience, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.VerifyWith(raw, now, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("numeric typ: VerifyWith = %v, want ErrInvalid", err)
	}

	// Access tokens and tokens of the format, under one key, are never taken
	// for one another.
	access := newTestSigner(t, key)
	other := newFormatSigner(t, testFormat, key)
	otherRaw, err := other.SignWith(testRegistered(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := access.Verify(otherRaw, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("access Verify of a %s token = %+v, %v", testFormat.Type, c, err)
	}
	if r, err := other.VerifyWith(sign(t, access, testClaims()), now, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("VerifyWith of an access token = %+v, %v", r, err)
	}
	// Even one with the format's issuer and audience: its typ is JWT.
	lookalike := newTestSigner(t, key)
	lookalike.keys.format.Issuer, lookalike.keys.format.Audience = testFormat.Issuer, testFormat.Audience
	if r, err := other.VerifyWith(sign(t, lookalike, testClaims()), now, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("VerifyWith of a JWT-typed token = %+v, %v", r, err)
	}
}

// TestVerifyWithRules: the rules Verify applies hold for VerifyWith too (exp
// without leeway, iat and nbf with 30 seconds).
func TestVerifyWithRules(t *testing.T) {
	s := newFormatSigner(t, testFormat, testKey(1))
	raw, err := s.SignWith(testRegistered(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at time.Time
		ok bool
	}{
		{now.Add(-30 * time.Second), true},
		{now.Add(-31 * time.Second), false},
		{now.Add(5*time.Minute - time.Second), true},
		{now.Add(5 * time.Minute), false},
	} {
		if _, err := s.VerifyWith(raw, tc.at, nil); (err == nil) != tc.ok {
			t.Errorf("VerifyWith at %v: %v, want ok %v", tc.at.Sub(now), err, tc.ok)
		}
	}
}

func TestNewFormatErrors(t *testing.T) {
	for _, f := range []Format{{Audience: "a"}, {Issuer: "i"}, {Type: "x+jwt"}} {
		if _, err := NewFormatKeySet(f, nil); err == nil {
			t.Errorf("NewFormatKeySet(%+v) succeeded", f)
		}
		if _, err := NewFormatSigner(f, testKey(1)); err == nil {
			t.Errorf("NewFormatSigner(%+v) succeeded", f)
		}
	}
}
