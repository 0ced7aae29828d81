package leasetoken_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"steward.dev/pkg/accesstoken"
	"steward.dev/services/licensing/leasetoken"
)

// now is the fixed clock of these tests.
var now = time.Unix(1_800_000_000, 0)

// testKey returns a deterministic key made from seed byte b.
func testKey(b byte) accesstoken.Key {
	return accesstoken.NewKey(ed25519.NewKeyFromSeed([]byte(strings.Repeat(string(rune(b)), ed25519.SeedSize))))
}

func newSigner(t testing.TB, k accesstoken.Key) *leasetoken.Signer {
	t.Helper()
	s, err := leasetoken.NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newVerifier(t testing.TB, jwks []accesstoken.JWK) *leasetoken.Verifier {
	t.Helper()
	v, err := leasetoken.NewVerifier(jwks)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t testing.TB, s *leasetoken.Signer, c leasetoken.Claims) string {
	t.Helper()
	raw, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// testClaims are the claims of a robot's lease, every one set.
func testClaims() leasetoken.Claims {
	return leasetoken.Claims{
		Lease:        "organizations/o1/leases/l-42",
		Principal:    "organizations/o1/robotAccounts/r7",
		Organization: "organizations/o1",
		Client:       leasetoken.ClientRobot,
		Machine:      "BUILD-AGENT-07 (Ünïcode)",
		Pool:         "organizations/o1/licensePools/unattended",
		Service:      "organizations/o1/tenants/default/services/orchestrator",
		IssuedAt:     now,
		Expiry:       now.Add(10 * time.Minute),
	}
}

func claimsEqual(a, b leasetoken.Claims) bool {
	return a.Lease == b.Lease && a.Principal == b.Principal && a.Organization == b.Organization &&
		a.Client == b.Client && a.Machine == b.Machine && a.Pool == b.Pool && a.Service == b.Service &&
		a.IssuedAt.Equal(b.IssuedAt) && a.Expiry.Equal(b.Expiry)
}

// segment returns segment i of raw decoded as a JSON object.
func segment(t testing.TB, raw string, i int) map[string]any {
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

// wantInvalid fails t unless err wraps leasetoken.ErrInvalid.
func wantInvalid(t testing.TB, what string, c leasetoken.Claims, err error) {
	t.Helper()
	if !errors.Is(err, leasetoken.ErrInvalid) {
		t.Errorf("%s: Verify = %+v, %v; want ErrInvalid", what, c, err)
	}
}

// TestR24SignVerifyRoundTrip: every claim of a lease token survives signing
// and verification.
func TestR24SignVerifyRoundTrip(t *testing.T) {
	s := newSigner(t, testKey(1))
	v := newVerifier(t, s.JWKS())
	for _, tc := range []struct {
		name string
		edit func(*leasetoken.Claims)
		at   time.Time
	}{
		{"robot with service", func(*leasetoken.Claims) {}, now},
		{"editor of a user", func(c *leasetoken.Claims) {
			c.Client, c.Principal = leasetoken.ClientEditor, "organizations/o1/users/u42"
		}, now},
		{"no service", func(c *leasetoken.Claims) { c.Service = "" }, now},
		{"sub-second times truncated", func(c *leasetoken.Claims) { c.IssuedAt = now.Add(time.Second / 2) }, now},
		{"just before expiry", func(*leasetoken.Claims) {}, now.Add(10*time.Minute - time.Second)},
		{"clock behind within leeway", func(*leasetoken.Claims) {}, now.Add(-30 * time.Second)},
		{"longest IDs", func(c *leasetoken.Claims) {
			id := strings.Repeat("a", 62) + "-"
			c.Organization = "organizations/" + id
			c.Lease, c.Principal = c.Organization+"/leases/"+id, c.Organization+"/users/"+id
			c.Pool, c.Service = c.Organization+"/licensePools/"+id, c.Organization+"/tenants/"+id+"/services/"+id
		}, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testClaims()
			tc.edit(&c)
			got, err := v.Verify(sign(t, s, c), tc.at)
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

// TestR24Format: the header and payload of a lease token are the ones the
// package documents, and nothing more.
func TestR24Format(t *testing.T) {
	k := testKey(1)
	s := newSigner(t, k)
	for _, service := range []bool{true, false} {
		c := testClaims()
		if !service {
			c.Service = ""
		}
		raw := sign(t, s, c)
		h := segment(t, raw, 0)
		if len(h) != 3 || h["alg"] != "EdDSA" || h["kid"] != k.ID || h["typ"] != "lease+jwt" {
			t.Errorf("header = %v", h)
		}
		p := segment(t, raw, 1)
		want := map[string]any{
			"iss": "steward-licensing", "aud": "steward-lease", "jti": c.Lease, "sub": c.Principal,
			"org": c.Organization, "client": "robot", "machine": c.Machine, "pool": c.Pool,
			"iat": float64(now.Unix()), "exp": float64(c.Expiry.Unix()),
		}
		if service {
			want["service"] = c.Service
		}
		if len(p) != len(want) {
			t.Errorf("payload has %d claims, want %d: %v", len(p), len(want), p)
		}
		for k, w := range want {
			if p[k] != w {
				t.Errorf("payload %q = %v, want %v", k, p[k], w)
			}
		}
	}
}

// TestR24VerifyOfflineWithJWKS: a robot that fetched the JWKS as JSON (as
// GetLicensingJwks serves it) verifies lease tokens with nothing else.
func TestR24VerifyOfflineWithJWKS(t *testing.T) {
	s := newSigner(t, testKey(1))
	raw := sign(t, s, testClaims())

	doc, err := json.Marshal(map[string]any{"keys": s.JWKS()})
	if err != nil {
		t.Fatal(err)
	}
	// The robot's side: the JSON document and the token, nothing more.
	var fetched struct {
		Keys []accesstoken.JWK `json:"keys"`
	}
	if err := json.Unmarshal(doc, &fetched); err != nil {
		t.Fatal(err)
	}
	if len(fetched.Keys) != 1 || fetched.Keys[0] != testKey(1).JWK() {
		t.Fatalf("JWKS round trip = %+v", fetched.Keys)
	}
	v, err := leasetoken.NewVerifier(fetched.Keys)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(raw, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !claimsEqual(got, testClaims()) {
		t.Errorf("Verify = %+v, want %+v", got, testClaims())
	}
}

// TestR24RefusedAfterExpiry: a lease token is good until its expiry,
// exclusive: exactly at exp it is refused, with no leeway.
func TestR24RefusedAfterExpiry(t *testing.T) {
	s := newSigner(t, testKey(1))
	v := newVerifier(t, s.JWKS())
	c := testClaims()
	raw := sign(t, s, c)
	if _, err := v.Verify(raw, c.Expiry.Add(-time.Nanosecond)); err != nil {
		t.Errorf("a nanosecond before expiry: %v", err)
	}
	for _, at := range []time.Time{c.Expiry, c.Expiry.Add(time.Nanosecond), c.Expiry.Add(time.Second), c.Expiry.Add(24 * time.Hour)} {
		got, err := v.Verify(raw, at)
		wantInvalid(t, "at expiry+"+at.Sub(c.Expiry).String(), got, err)
	}
	got, err := v.Verify(raw, now.Add(-31*time.Second))
	wantInvalid(t, "issued more than 30s in the future", got, err)
}

// TestR24RefusedWhenTampered: changing any character of the token (header,
// payload or signature) to any other base64url character makes it invalid.
func TestR24RefusedWhenTampered(t *testing.T) {
	s := newSigner(t, testKey(1))
	v := newVerifier(t, s.JWKS())
	raw := sign(t, s, testClaims())
	if _, err := v.Verify(raw, now); err != nil {
		t.Fatalf("Verify(genuine) = %v; the refusals below would prove nothing", err)
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	tried := 0
	for i := range len(raw) {
		if raw[i] == '.' {
			continue
		}
		// Three other characters, differing in the lowest, a middle and
		// the highest of its six bits. In a segment's last character the
		// lowest bits may be unused: a lenient decoder would read the
		// same bytes, and the token must be refused all the same.
		idx := strings.IndexByte(alphabet, raw[i])
		for _, b := range []byte{alphabet[idx^1], alphabet[idx^4], alphabet[idx^32]} {
			got, err := v.Verify(raw[:i]+string(b)+raw[i+1:], now)
			wantInvalid(t, fmt.Sprintf("character %d changed from %q to %q", i, raw[i], b), got, err)
			tried++
		}
	}
	// Tampering with the claims and signing them again needs the key.
	parts := strings.Split(raw, ".")
	p := segment(t, raw, 1)
	p["pool"] = "organizations/o1/licensePools/premium"
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(parts[0]+"."+base64.RawURLEncoding.EncodeToString(b)+"."+parts[2], now)
	wantInvalid(t, "payload re-encoded with another pool", got, err)
	for _, cut := range []string{parts[0] + "." + parts[1], parts[0] + "." + parts[1] + ".", raw + "A", raw + ".e30", "", "x.y.z"} {
		got, err := v.Verify(cut, now)
		wantInvalid(t, cut, got, err)
	}
	if tried < 3*len(raw)-6 {
		t.Errorf("tried %d changes of a %d-character token", tried, len(raw))
	}
}

// TestR24RefusedUnderAnotherKey: a token of another key, or of another
// private key under the verifier's key ID, is refused.
func TestR24RefusedUnderAnotherKey(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	v := newVerifier(t, newSigner(t, k1).JWKS())
	got, err := v.Verify(sign(t, newSigner(t, k2), testClaims()), now)
	wantInvalid(t, "another key", got, err)
	if !errors.Is(err, accesstoken.ErrUnknownKey) {
		t.Errorf("another key: %v, want it to wrap accesstoken.ErrUnknownKey", err)
	}
	impostor := newSigner(t, accesstoken.Key{ID: k1.ID, Private: k2.Private})
	got, err = v.Verify(sign(t, impostor, testClaims()), now)
	wantInvalid(t, "another private key under the verifier's key ID", got, err)
	// A verifier holding both keys takes both.
	both := newVerifier(t, []accesstoken.JWK{k1.JWK(), k2.JWK()})
	for _, k := range []accesstoken.Key{k1, k2} {
		if _, err := both.Verify(sign(t, newSigner(t, k), testClaims()), now); err != nil {
			t.Errorf("key %s: %v", k.ID, err)
		}
	}
}

// TestR24AccessAndLeaseTokensApart: an access token is never a lease token
// and a lease token never an access token, even signed with one key; a token
// of the lease's issuer and audience but another typ, or of the lease's typ
// but the access audience, is no lease token either.
func TestR24AccessAndLeaseTokensApart(t *testing.T) {
	k := testKey(1)
	lease := newSigner(t, k)
	v := newVerifier(t, lease.JWKS())
	access, err := accesstoken.NewSigner(accesstoken.Issuer, accesstoken.Audience, k)
	if err != nil {
		t.Fatal(err)
	}
	accessRaw, err := access.Sign(accesstoken.Claims{
		Subject: "organizations/o1/users/u42", Organization: "organizations/o1", SessionID: "s1",
		Kind: accesstoken.KindUser, IssuedAt: now, Expiry: now.Add(5 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := access.Verify(accessRaw, now); err != nil {
		t.Fatalf("access Verify(access token) = %v; the refusals below would prove nothing", err)
	}
	got, err := v.Verify(accessRaw, now)
	wantInvalid(t, "access token", got, err)

	leaseRaw := sign(t, lease, testClaims())
	ks, err := accesstoken.NewKeySet(accesstoken.Issuer, accesstoken.Audience, lease.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if c, err := ks.Verify(leaseRaw, now); !errors.Is(err, accesstoken.ErrInvalid) {
		t.Errorf("access KeySet.Verify(lease token) = %+v, %v; want accesstoken.ErrInvalid", c, err)
	}
	if c, err := access.Verify(leaseRaw, now); !errors.Is(err, accesstoken.ErrInvalid) {
		t.Errorf("access Signer.Verify(lease token) = %+v, %v; want accesstoken.ErrInvalid", c, err)
	}

	// Lease claims under formats that differ from the lease's in one part.
	c := testClaims()
	private := map[string]any{"org": c.Organization, "client": c.Client, "machine": c.Machine, "pool": c.Pool}
	reg := accesstoken.Registered{Subject: c.Principal, ID: c.Lease, IssuedAt: c.IssuedAt, Expiry: c.Expiry}
	for _, f := range []accesstoken.Format{
		{Issuer: leasetoken.Issuer, Audience: leasetoken.Audience, Type: leasetoken.Type}, // the lease's own: accepted
		{Issuer: leasetoken.Issuer, Audience: leasetoken.Audience},                        // typ JWT
		{Issuer: leasetoken.Issuer, Audience: leasetoken.Audience, Type: "at+jwt"},
		{Issuer: accesstoken.Issuer, Audience: leasetoken.Audience, Type: leasetoken.Type},
		{Issuer: leasetoken.Issuer, Audience: accesstoken.Audience, Type: leasetoken.Type},
	} {
		fs, err := accesstoken.NewFormatSigner(f, k)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := fs.SignWith(reg, private)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(raw, now)
		if f == (accesstoken.Format{Issuer: leasetoken.Issuer, Audience: leasetoken.Audience, Type: leasetoken.Type}) {
			if err != nil {
				t.Errorf("the lease format itself: %v", err)
			}
			continue
		}
		wantInvalid(t, "format "+f.Issuer+" "+f.Audience+" "+f.Type, got, err)
	}
}

// validClaimsMutations are edits that make lease claims invalid.
var validClaimsMutations = []struct {
	name string
	edit func(*leasetoken.Claims)
}{
	{"no lease", func(c *leasetoken.Claims) { c.Lease = "" }},
	{"lease not a lease", func(c *leasetoken.Claims) { c.Lease = "organizations/o1/licensePools/l" }},
	{"lease of another organization", func(c *leasetoken.Claims) { c.Lease = "organizations/o2/leases/l" }},
	{"lease with a trailing slash", func(c *leasetoken.Claims) { c.Lease += "/" }},
	{"lease ID upper case", func(c *leasetoken.Claims) { c.Lease = "organizations/o1/leases/L1" }},
	{"lease ID too long", func(c *leasetoken.Claims) { c.Lease = "organizations/o1/leases/" + strings.Repeat("a", 64) }},
	{"lease ID leading hyphen", func(c *leasetoken.Claims) { c.Lease = "organizations/o1/leases/-a" }},
	{"no principal", func(c *leasetoken.Claims) { c.Principal = "" }},
	{"principal a group", func(c *leasetoken.Claims) { c.Principal = "organizations/o1/groups/g" }},
	{"principal of another organization", func(c *leasetoken.Claims) { c.Principal = "organizations/o2/users/u" }},
	{"principal an external app", func(c *leasetoken.Claims) { c.Principal = "organizations/o1/externalApps/a" }},
	{"no organization", func(c *leasetoken.Claims) { c.Organization = "" }},
	{"organization a tenant", func(c *leasetoken.Claims) { c.Organization = "organizations/o1/tenants/t" }},
	{"organization empty ID", func(c *leasetoken.Claims) { c.Organization = "organizations/" }},
	{"no client", func(c *leasetoken.Claims) { c.Client = "" }},
	{"unknown client", func(c *leasetoken.Claims) { c.Client = "studio" }},
	{"client in upper case", func(c *leasetoken.Claims) { c.Client = "ROBOT" }},
	{"no machine", func(c *leasetoken.Claims) { c.Machine = "" }},
	{"machine not UTF-8", func(c *leasetoken.Claims) { c.Machine = "\xff" }},
	{"no pool", func(c *leasetoken.Claims) { c.Pool = "" }},
	{"pool of another organization", func(c *leasetoken.Claims) { c.Pool = "organizations/o2/licensePools/p" }},
	{"pool not a pool", func(c *leasetoken.Claims) { c.Pool = "organizations/o1/leases/p" }},
	{"service a tenant", func(c *leasetoken.Claims) { c.Service = "organizations/o1/tenants/t" }},
	{"service of another organization", func(c *leasetoken.Claims) { c.Service = "organizations/o2/tenants/t/services/s" }},
	{"service with a folder", func(c *leasetoken.Claims) { c.Service += "/folders/f" }},
	{"no issue time", func(c *leasetoken.Claims) { c.IssuedAt = time.Time{} }},
	{"no expiry", func(c *leasetoken.Claims) { c.Expiry = time.Time{} }},
	{"expiry at issue", func(c *leasetoken.Claims) { c.Expiry = c.IssuedAt }},
	{"expiry before issue", func(c *leasetoken.Claims) { c.Expiry = c.IssuedAt.Add(-time.Minute) }},
}

// TestR24SignRefusesBadClaims: Sign signs only complete, well-formed claims
// of one organization.
func TestR24SignRefusesBadClaims(t *testing.T) {
	s := newSigner(t, testKey(1))
	for _, tc := range validClaimsMutations {
		t.Run(tc.name, func(t *testing.T) {
			c := testClaims()
			tc.edit(&c)
			if raw, err := s.Sign(c); err == nil {
				t.Errorf("Sign = %q, want error", raw)
			}
		})
	}
}

// TestR24VerifyRefusesBadClaims: a correctly signed token whose claims Sign
// would refuse (signed by something other than Sign with the key) is
// refused too; so are mistyped claims.
func TestR24VerifyRefusesBadClaims(t *testing.T) {
	k := testKey(1)
	v := newVerifier(t, []accesstoken.JWK{k.JWK()})
	fs, err := accesstoken.NewFormatSigner(accesstoken.Format{Issuer: leasetoken.Issuer, Audience: leasetoken.Audience, Type: leasetoken.Type}, k)
	if err != nil {
		t.Fatal(err)
	}
	forge := func(c leasetoken.Claims, extra map[string]any) string {
		private := map[string]any{"org": c.Organization, "client": c.Client, "machine": c.Machine, "pool": c.Pool, "service": c.Service}
		for k, v := range extra {
			if v == nil {
				delete(private, k)
			} else {
				private[k] = v
			}
		}
		raw, err := fs.SignWith(accesstoken.Registered{Subject: c.Principal, ID: c.Lease, IssuedAt: c.IssuedAt, Expiry: c.Expiry}, private)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	if _, err := v.Verify(forge(testClaims(), nil), now); err != nil {
		t.Fatalf("forged valid claims: %v; the refusals below would prove nothing", err)
	}
	for _, tc := range validClaimsMutations {
		if slices.Contains([]string{"no issue time", "no expiry", "expiry at issue", "expiry before issue", "machine not UTF-8"}, tc.name) {
			continue // SignWith refuses these; JSON cannot carry the last
		}
		t.Run(tc.name, func(t *testing.T) {
			c := testClaims()
			tc.edit(&c)
			got, err := v.Verify(forge(c, nil), now)
			wantInvalid(t, tc.name, got, err)
		})
	}
	for name, extra := range map[string]map[string]any{
		"mistyped machine": {"machine": 7},
		"mistyped client":  {"client": true},
		"no org":           {"org": nil},
		"mistyped service": {"service": []string{"organizations/o1/tenants/t/services/s"}},
	} {
		got, err := v.Verify(forge(testClaims(), extra), now)
		wantInvalid(t, name, got, err)
	}
}

func TestR24NewSignerAndVerifierErrors(t *testing.T) {
	k := testKey(1)
	for name, key := range map[string]accesstoken.Key{
		"zero key":  {},
		"no ID":     {Private: k.Private},
		"short key": {ID: k.ID, Private: k.Private[:16]},
	} {
		if _, err := leasetoken.NewSigner(key); err == nil {
			t.Errorf("NewSigner(%s) succeeded", name)
		}
	}
	bad := k.JWK()
	bad.Crv = "P-256"
	for name, jwks := range map[string][]accesstoken.JWK{
		"no keys":       nil,
		"empty":         {},
		"not Ed25519":   {bad},
		"duplicate kid": {k.JWK(), k.JWK()},
	} {
		if _, err := leasetoken.NewVerifier(jwks); err == nil {
			t.Errorf("NewVerifier(%s) succeeded", name)
		}
	}
}
