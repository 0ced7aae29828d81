package directory_test

import (
	"flag"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"steward.dev/pkg/backend/backendtest"
	"steward.dev/services/directory/server"
)

// TestTokenTTLFlag: -token-ttl sets the lifetime of the tokens sign-in
// issues (the security suite uses it to get expired tokens without waiting
// 15 minutes); a negative lifetime is refused.
func TestTokenTTLFlag(t *testing.T) {
	cfg := server.NewConfig()
	fs := flag.NewFlagSet("directory", flag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := fs.Parse([]string{"-token-ttl", "90s"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Domain.TokenTTL != 90*time.Second {
		t.Fatalf("TokenTTL = %v, want 90s", cfg.Domain.TokenTTL)
	}
	e := newEnvConfig(t, func(c *server.Config) { c.Domain.TokenTTL = cfg.Domain.TokenTTL })
	su := e.signUp()
	in := e.signIn(su.GetOrganization().GetName(), su.GetOwner().GetEmail(), "correct horse battery", "")
	parsed, err := jwt.ParseSigned(in.GetAccessToken(), []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.Claims
	if err := parsed.UnsafeClaimsWithoutVerification(&claims); err != nil {
		t.Fatal(err)
	}
	if got := claims.Expiry.Time().Sub(claims.IssuedAt.Time()); got != 90*time.Second {
		t.Errorf("token lifetime %v, want 90s", got)
	}

	bad := server.NewConfig()
	bad.Config = backendtest.Config(t, bad.Config)
	bad.Domain.TokenTTL = -time.Second
	if _, err := bad.Complete(); err == nil {
		t.Error("Complete with a negative token lifetime succeeded")
	}
}
