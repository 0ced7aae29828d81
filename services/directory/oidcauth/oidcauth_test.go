package oidcauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"steward.dev/services/directory/oidcauth"
	"steward.dev/services/directory/oidcauth/oidctest"
)

const clientID = "steward-client"

// private returns a Verifier that may talk to oidctest's issuers on
// http://127.0.0.1.
func private() *oidcauth.Verifier {
	return oidcauth.NewWithOptions(oidcauth.Options{AllowPrivate: true})
}

func newIssuer(t testing.TB) *oidctest.Issuer {
	t.Helper()
	iss, err := oidctest.NewIssuer()
	if err != nil {
		t.Fatalf("NewIssuer: %v", err)
	}
	t.Cleanup(iss.Close)
	return iss
}

func mint(t testing.TB, iss *oidctest.Issuer, c oidctest.Claims) string {
	t.Helper()
	raw, err := iss.Mint(c)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return raw
}

// validClaims returns claims that verify for clientID.
func validClaims() oidctest.Claims {
	return oidctest.Claims{
		Subject:  "u-42",
		Audience: clientID,
		Email:    "ada@example.com",
		Name:     "Ada Lovelace",
		Groups:   []string{"engineering", "robots-admins"},
	}
}

// unsignedToken returns a JWT with "alg": "none" carrying claims.
func unsignedToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc(payload) + "."
}

// hmacToken returns a JWT signed with HS256, an algorithm the issuer does not
// advertise.
func hmacToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerify(t *testing.T) {
	iss := newIssuer(t)
	foreign := newIssuer(t)
	v := private()

	with := func(edit func(*oidctest.Claims)) oidctest.Claims {
		c := validClaims()
		edit(&c)
		return c
	}
	standard := map[string]any{
		"iss": iss.URL(), "sub": "u-42", "aud": clientID,
		"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(),
	}

	tests := []struct {
		name       string
		token      func(t *testing.T) string
		groupClaim string
		want       oidcauth.Identity
		wantErr    error
	}{{
		name:       "valid with groups",
		token:      func(t *testing.T) string { return mint(t, iss, validClaims()) },
		groupClaim: "groups",
		want: oidcauth.Identity{
			Subject: "u-42", Email: "ada@example.com", Name: "Ada Lovelace",
			Groups: []string{"engineering", "robots-admins"},
		},
	}, {
		name: "custom group claim",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) { c.GroupClaim = "roles" }))
		},
		groupClaim: "roles",
		want: oidcauth.Identity{
			Subject: "u-42", Email: "ada@example.com", Name: "Ada Lovelace",
			Groups: []string{"engineering", "robots-admins"},
		},
	}, {
		name: "group claim as single string",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) {
				c.Groups = nil
				c.Extra = map[string]any{"groups": "engineering"}
			}))
		},
		groupClaim: "groups",
		want:       oidcauth.Identity{Subject: "u-42", Email: "ada@example.com", Name: "Ada Lovelace", Groups: []string{"engineering"}},
	}, {
		name: "empty groups dropped",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) { c.Groups = []string{"", "ops", ""} }))
		},
		groupClaim: "groups",
		want:       oidcauth.Identity{Subject: "u-42", Email: "ada@example.com", Name: "Ada Lovelace", Groups: []string{"ops"}},
	}, {
		name: "group claim missing",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) { c.Groups = nil }))
		},
		groupClaim: "groups",
		want:       oidcauth.Identity{Subject: "u-42", Email: "ada@example.com", Name: "Ada Lovelace"},
	}, {
		name: "group claim null",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) { c.Groups = nil; c.Extra = map[string]any{"groups": nil} }))
		},
		groupClaim: "groups",
		want:       oidcauth.Identity{Subject: "u-42", Email: "ada@example.com", Name: "Ada Lovelace"},
	}, {
		name:  "group claim not configured",
		token: func(t *testing.T) string { return mint(t, iss, validClaims()) },
		want:  oidcauth.Identity{Subject: "u-42", Email: "ada@example.com", Name: "Ada Lovelace"},
	}, {
		name: "name falls back to preferred_username",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) {
				c.Name = ""
				c.Email = ""
				c.Extra = map[string]any{"preferred_username": "ada"}
			}))
		},
		groupClaim: "groups",
		want:       oidcauth.Identity{Subject: "u-42", Name: "ada", Groups: []string{"engineering", "robots-admins"}},
	}, {
		name: "wrong audience",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) { c.Audience = "someone-else" }))
		},
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name: "no audience",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) { c.Audience = "" }))
		},
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name: "wrong issuer",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) { c.Issuer = "https://evil.example.com" }))
		},
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name: "issued by another issuer",
		token: func(t *testing.T) string {
			return mint(t, foreign, validClaims())
		},
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name: "expired",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) {
				c.IssuedAt = time.Now().Add(-time.Hour)
				c.Expiry = time.Now().Add(-time.Minute)
			}))
		},
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name: "signed by a foreign key",
		token: func(t *testing.T) string {
			return mint(t, foreign, with(func(c *oidctest.Claims) { c.Issuer = iss.URL() }))
		},
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name: "signature tampered",
		token: func(t *testing.T) string {
			// Swap the payload of a valid token for one with other groups.
			parts := strings.Split(mint(t, iss, validClaims()), ".")
			other := strings.Split(mint(t, iss, with(func(c *oidctest.Claims) { c.Groups = []string{"owners"} })), ".")
			return parts[0] + "." + other[1] + "." + parts[2]
		},
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name:    "unsigned",
		token:   func(t *testing.T) string { return unsignedToken(t, standard) },
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name:    "HS256",
		token:   func(t *testing.T) string { return hmacToken(t, standard) },
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name: "no subject",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) { c.Subject = "" }))
		},
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name: "email not a string",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) { c.Extra = map[string]any{"email": 7} }))
		},
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name: "group claim of wrong type",
		token: func(t *testing.T) string {
			return mint(t, iss, with(func(c *oidctest.Claims) { c.Extra = map[string]any{"groups": []any{"a", 1}} }))
		},
		groupClaim: "groups",
		wantErr:    oidcauth.ErrInvalidToken,
	}, {
		name:    "garbage",
		token:   func(*testing.T) string { return "not a token" },
		wantErr: oidcauth.ErrInvalidToken,
	}, {
		name:    "empty",
		token:   func(*testing.T) string { return "" },
		wantErr: oidcauth.ErrInvalidToken,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(t.Context(), iss.URL(), clientID, tt.groupClaim, tt.token(t))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify() error = %v, want %v", err, tt.wantErr)
				}
				if errors.Is(err, oidcauth.ErrIssuerUnavailable) {
					t.Fatalf("Verify() error = %v, also wraps ErrIssuerUnavailable", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify() error = %v", err)
			}
			if got.Subject != tt.want.Subject || got.Email != tt.want.Email || got.Name != tt.want.Name ||
				!slices.Equal(got.Groups, tt.want.Groups) {
				t.Errorf("Verify() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVerifyRequiresConfiguration(t *testing.T) {
	iss := newIssuer(t)
	v := private()
	raw := mint(t, iss, validClaims())
	for _, tc := range []struct{ name, issuer, clientID string }{
		{"no issuer", "", clientID},
		{"no client ID", iss.URL(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), tc.issuer, tc.clientID, "groups", raw)
			if err == nil || errors.Is(err, oidcauth.ErrInvalidToken) || errors.Is(err, oidcauth.ErrIssuerUnavailable) {
				t.Fatalf("Verify() error = %v, want a configuration error", err)
			}
		})
	}
}

func TestVerifyIssuerUnreachable(t *testing.T) {
	iss := newIssuer(t)
	raw := mint(t, iss, validClaims())
	iss.Close()

	_, err := private().Verify(t.Context(), iss.URL(), clientID, "groups", raw)
	if !errors.Is(err, oidcauth.ErrIssuerUnavailable) {
		t.Fatalf("Verify() error = %v, want ErrIssuerUnavailable", err)
	}
	if errors.Is(err, oidcauth.ErrInvalidToken) {
		t.Fatalf("Verify() error = %v, also wraps ErrInvalidToken", err)
	}
}

func TestVerifyNotAnIssuer(t *testing.T) {
	iss := newIssuer(t)
	raw := mint(t, iss, validClaims())
	// The discovery document names another issuer than the URL asked for.
	_, err := private().Verify(t.Context(), iss.URL()+"/", clientID, "groups", raw)
	if !errors.Is(err, oidcauth.ErrIssuerUnavailable) {
		t.Fatalf("Verify() error = %v, want ErrIssuerUnavailable", err)
	}
}

// flakyTransport fails the first n requests, then passes requests on to
// http.DefaultTransport, counting discovery requests.
type flakyTransport struct {
	failures  atomic.Int32
	discovery atomic.Int32
}

func (f *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/.well-known/openid-configuration") {
		f.discovery.Add(1)
	}
	if f.failures.Add(-1) >= 0 {
		return nil, errors.New("flaky: connection reset")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestVerifyDiscoveryFailureNotCached(t *testing.T) {
	iss := newIssuer(t)
	raw := mint(t, iss, validClaims())
	tr := &flakyTransport{}
	tr.failures.Store(1)
	v := oidcauth.NewWithOptions(oidcauth.Options{Client: &http.Client{Transport: tr, Timeout: 5 * time.Second}, AllowPrivate: true})

	if _, err := v.Verify(t.Context(), iss.URL(), clientID, "groups", raw); !errors.Is(err, oidcauth.ErrIssuerUnavailable) {
		t.Fatalf("first Verify() error = %v, want ErrIssuerUnavailable", err)
	}
	if _, err := v.Verify(t.Context(), iss.URL(), clientID, "groups", raw); err != nil {
		t.Fatalf("second Verify() error = %v", err)
	}
	if got := tr.discovery.Load(); got != 2 {
		t.Errorf("discovery requests = %d, want 2", got)
	}
}

func TestVerifyKeyRotation(t *testing.T) {
	iss := newIssuer(t)
	v := private()
	oldToken := mint(t, iss, validClaims())
	if _, err := v.Verify(t.Context(), iss.URL(), clientID, "groups", oldToken); err != nil {
		t.Fatalf("Verify(old key) error = %v", err)
	}

	if err := iss.RotateKey(); err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	newToken := mint(t, iss, validClaims())
	if strings.Split(newToken, ".")[0] == strings.Split(oldToken, ".")[0] {
		t.Fatal("rotated key signs with the same header (key ID)")
	}
	for name, raw := range map[string]string{"new key": newToken, "old key": oldToken} {
		if _, err := v.Verify(t.Context(), iss.URL(), clientID, "groups", raw); err != nil {
			t.Errorf("Verify(%s) after rotation error = %v", name, err)
		}
	}
}

func TestVerifyKeySetUnreachable(t *testing.T) {
	iss := newIssuer(t)
	v := private()
	oldToken := mint(t, iss, validClaims())
	if _, err := v.Verify(t.Context(), iss.URL(), clientID, "groups", oldToken); err != nil {
		t.Fatalf("Verify() error = %v", err)
	}
	if err := iss.RotateKey(); err != nil {
		t.Fatalf("RotateKey: %v", err)
	}
	newToken := mint(t, iss, validClaims())
	iss.Close()

	// A known key still verifies from the cache.
	if _, err := v.Verify(t.Context(), iss.URL(), clientID, "groups", oldToken); err != nil {
		t.Errorf("Verify(cached key) error = %v", err)
	}
	// An unknown key needs the key set, which cannot be fetched.
	_, err := v.Verify(t.Context(), iss.URL(), clientID, "groups", newToken)
	if !errors.Is(err, oidcauth.ErrIssuerUnavailable) || errors.Is(err, oidcauth.ErrInvalidToken) {
		t.Fatalf("Verify(unknown key) error = %v, want only ErrIssuerUnavailable", err)
	}
}

func TestVerifyConcurrent(t *testing.T) {
	iss := newIssuer(t)
	tr := &flakyTransport{}
	v := oidcauth.NewWithOptions(oidcauth.Options{Client: &http.Client{Transport: tr, Timeout: 5 * time.Second}, AllowPrivate: true})
	good := mint(t, iss, validClaims())
	bad := mint(t, iss, oidctest.Claims{Subject: "u-1", Audience: "other"})

	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Go(func() {
			raw, wantErr := good, error(nil)
			if i%4 == 3 {
				raw, wantErr = bad, oidcauth.ErrInvalidToken
			}
			id, err := v.Verify(context.Background(), iss.URL(), clientID, "groups", raw)
			switch {
			case wantErr == nil && err != nil:
				errs <- err
			case wantErr != nil && !errors.Is(err, wantErr):
				errs <- errors.Join(errors.New("want ErrInvalidToken"), err)
			case wantErr == nil && id.Subject != "u-42":
				errs <- errors.New("wrong subject " + id.Subject)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := tr.discovery.Load(); got != 1 {
		t.Errorf("discovery requests = %d, want 1", got)
	}
}

func FuzzVerify(f *testing.F) {
	iss := newIssuer(f)
	foreign := newIssuer(f)
	v := private()

	valid := mint(f, iss, validClaims())
	if _, err := v.Verify(context.Background(), iss.URL(), clientID, "groups", valid); err != nil {
		f.Fatalf("Verify(valid) error = %v", err)
	}
	parts := strings.Split(valid, ".")
	// Change the signature in several places, so that no single mutation
	// restores it.
	sig := []byte(parts[2])
	for _, i := range []int{10, 100, 200} {
		sig[i] ^= 0x01
	}
	f.Add(parts[0] + "." + parts[1] + "." + string(sig))
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + "." + parts[1])
	f.Add(parts[0] + ".." + parts[2])
	f.Add(mint(f, iss, oidctest.Claims{Subject: "u-42", Audience: "other"}))
	f.Add(mint(f, iss, oidctest.Claims{Subject: "u-42", Audience: clientID, Expiry: time.Now().Add(-time.Hour), IssuedAt: time.Now().Add(-2 * time.Hour)}))
	f.Add(mint(f, foreign, oidctest.Claims{Subject: "u-42", Audience: clientID, Issuer: iss.URL()}))
	f.Add(unsignedToken(f, map[string]any{"iss": iss.URL(), "sub": "u-42", "aud": clientID, "exp": time.Now().Add(time.Hour).Unix()}))
	f.Add("")
	f.Add("a.b.c")
	f.Add("..")

	f.Fuzz(func(t *testing.T, raw string) {
		id, err := v.Verify(context.Background(), iss.URL(), clientID, "groups", raw)
		if err == nil {
			t.Fatalf("Verify(%q) = %+v, want an error", raw, id)
		}
		if !errors.Is(err, oidcauth.ErrInvalidToken) {
			t.Fatalf("Verify(%q) error = %v, want ErrInvalidToken", raw, err)
		}
	})
}
