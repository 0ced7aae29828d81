package leasetoken_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"steward.dev/pkg/accesstoken"
	"steward.dev/services/licensing/leasetoken"
)

// FuzzVerify feeds the lease-token parser arbitrary input (R24): nothing but
// the one genuine token is accepted, and every refusal wraps ErrInvalid.
func FuzzVerify(f *testing.F) {
	k := testKey(1)
	s := newSigner(f, k)
	v := newVerifier(f, s.JWKS())
	good := sign(f, s, testClaims())
	if _, err := v.Verify(good, now); err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	// The genuine token's claims under another key, under another format
	// with the same key, and as an access token with the same key.
	f.Add(sign(f, newSigner(f, testKey(2)), testClaims()))
	jwtTyped, err := accesstoken.NewFormatSigner(accesstoken.Format{Issuer: leasetoken.Issuer, Audience: leasetoken.Audience}, k)
	if err != nil {
		f.Fatal(err)
	}
	c := testClaims()
	raw, err := jwtTyped.SignWith(accesstoken.Registered{Subject: c.Principal, ID: c.Lease, IssuedAt: c.IssuedAt, Expiry: c.Expiry},
		map[string]any{"org": c.Organization, "client": c.Client, "machine": c.Machine, "pool": c.Pool})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	access, err := accesstoken.NewSigner(accesstoken.Issuer, accesstoken.Audience, k)
	if err != nil {
		f.Fatal(err)
	}
	raw, err = access.Sign(accesstoken.Claims{Subject: c.Principal, Organization: c.Organization, Kind: accesstoken.KindRobotAccount, IssuedAt: now, Expiry: c.Expiry})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	b64 := base64.RawURLEncoding.EncodeToString
	f.Add(b64([]byte(`{"alg":"none","typ":"lease+jwt","kid":"`+k.ID+`"}`)) + "." + b64([]byte(`{"iss":"steward-licensing"}`)) + ".")
	f.Add("")
	f.Add("..")
	f.Add("e30.e30.")
	f.Add(good + "=")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Verify(raw, now)
		if err == nil && raw != good {
			t.Fatalf("Verify accepted %q as %+v", raw, c)
		}
		if err != nil && !errors.Is(err, leasetoken.ErrInvalid) {
			t.Fatalf("Verify error %v does not wrap ErrInvalid", err)
		}
	})
}

// FuzzSignVerifyRoundTrip signs arbitrary lease claims (R24): Sign either
// refuses them or issues a token that Verify, at its issue time, returns
// unchanged.
func FuzzSignVerifyRoundTrip(f *testing.F) {
	s := newSigner(f, testKey(1))
	v := newVerifier(f, s.JWKS())
	f.Add("o1", "l-42", "r7", true, uint8(0), "BUILD-AGENT-07", "unattended", "default", "orchestrator", int64(1_800_000_000), int64(600))
	f.Add("o1", "l", "u", false, uint8(1), "m", "p", "", "", int64(0), int64(1))
	f.Add("O1", "-l", "u-", false, uint8(2), "", "p/q", "t", "", int64(-5), int64(-5))
	f.Add("o", "l", "u", true, uint8(1), "\x00\u2028\"\\</script>", "p", "t", "s", int64(1<<40), int64(1<<30))
	clients := []string{leasetoken.ClientRobot, leasetoken.ClientEditor, "", "ROBOT", "studio"}
	f.Fuzz(func(t *testing.T, org, lease, principal string, robot bool, client uint8, machine, pool, tenant, service string, iat, ttl int64) {
		iat %= 1 << 40 // seconds: far past to far future, in range of time.Time
		ttl %= 1 << 30
		o := "organizations/" + org
		c := leasetoken.Claims{
			Lease: o + "/leases/" + lease, Principal: o + "/users/" + principal, Organization: o,
			Client: clients[int(client)%len(clients)], Machine: machine, Pool: o + "/licensePools/" + pool,
			IssuedAt: time.Unix(iat, 0), Expiry: time.Unix(iat+ttl, 0),
		}
		if robot {
			c.Principal = o + "/robotAccounts/" + principal
		}
		if tenant != "" || service != "" {
			c.Service = o + "/tenants/" + tenant + "/services/" + service
		}
		raw, err := s.Sign(c)
		if err != nil {
			return
		}
		got, err := v.Verify(raw, c.IssuedAt)
		if err != nil {
			if !errors.Is(err, leasetoken.ErrInvalid) {
				t.Fatalf("Verify error %v does not wrap ErrInvalid", err)
			}
			if len(raw) <= accesstoken.MaxTokenLen {
				t.Fatalf("Verify refused a token Sign issued a moment ago: %v", err)
			}
			return
		}
		if !claimsEqual(got, c) {
			t.Fatalf("round trip changed the claims:\n got %+v\nwant %+v", got, c)
		}
	})
}
