package credential

import (
	"net/url"
	"testing"
	"time"
)

// rfcSecret is the SHA-1 seed of RFC 6238 appendix B, "12345678901234567890",
// in base32.
const rfcSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

func TestTOTPCode(t *testing.T) {
	// RFC 6238 appendix B, SHA-1, last six of the eight digits.
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{59, "287082"},
		{1111111109, "081804"},
		{1234567890, "005924"},
		{2000000000, "279037"},
	} {
		got, err := TOTPCode(rfcSecret, time.Unix(tc.unix, 0))
		if err != nil || got != tc.want {
			t.Errorf("TOTPCode(%d) = %q, %v; want %q", tc.unix, got, err, tc.want)
		}
	}
	if _, err := TOTPCode("not base32!", time.Unix(59, 0)); err == nil {
		t.Error("TOTPCode(bad secret) succeeded")
	}
}

func TestValidateTOTP(t *testing.T) {
	t0 := time.Unix(1111111109, 0)
	const code = "081804" // at t0
	for _, tc := range []struct {
		name   string
		secret string
		code   string
		now    time.Time
		want   bool
	}{
		{"now", rfcSecret, code, t0, true},
		{"one step later", rfcSecret, code, t0.Add(30 * time.Second), true},
		{"one step earlier", rfcSecret, code, t0.Add(-30 * time.Second), true},
		{"two steps later", rfcSecret, code, t0.Add(60 * time.Second), false},
		{"two steps earlier", rfcSecret, code, t0.Add(-60 * time.Second), false},
		{"wrong code", rfcSecret, "081805", t0, false},
		{"short code", rfcSecret, "81804", t0, false},
		{"empty code", rfcSecret, "", t0, false},
		{"other secret", "JBSWY3DPEHPK3PXP", code, t0, false},
		{"bad secret", "not base32!", code, t0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidateTOTP(tc.secret, tc.code, tc.now); got != tc.want {
				t.Errorf("ValidateTOTP = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestNewTOTP(t *testing.T) {
	secret, uri, err := NewTOTP("Steward", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("secret") != secret || q.Get("issuer") != "Steward" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Errorf("otpauth URI = %q, secret %q", uri, secret)
	}
	now := time.Now()
	code, err := TOTPCode(secret, now)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidateTOTP(secret, code, now) {
		t.Error("ValidateTOTP(TOTPCode(now)) = false")
	}
	if _, _, err := NewTOTP("", "ada@example.com"); err == nil {
		t.Error("NewTOTP without issuer succeeded")
	}
}
