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

func TestVerifyTOTP(t *testing.T) {
	t0 := time.Unix(1111111109, 0)
	const (
		code = "081804"        // at t0
		step = 1111111109 / 30 // t0's step
	)
	for _, tc := range []struct {
		name     string
		secret   string
		code     string
		now      time.Time
		usedUpTo int64
		want     int64 // 0: refused
	}{
		{"now", rfcSecret, code, t0, 0, step},
		{"spaces around", rfcSecret, " " + code + " ", t0, 0, step},
		{"one step later", rfcSecret, code, t0.Add(30 * time.Second), 0, step},
		{"one step earlier", rfcSecret, code, t0.Add(-30 * time.Second), 0, step},
		{"two steps later", rfcSecret, code, t0.Add(60 * time.Second), 0, 0},
		{"two steps earlier", rfcSecret, code, t0.Add(-60 * time.Second), 0, 0},
		{"after the previous step was used", rfcSecret, code, t0, step - 1, step},
		{"replayed", rfcSecret, code, t0, step, 0},
		{"replayed a step later", rfcSecret, code, t0.Add(30 * time.Second), step, 0},
		{"older than a used code", rfcSecret, code, t0, step + 1, 0},
		{"wrong code", rfcSecret, "081805", t0, 0, 0},
		{"short code", rfcSecret, "81804", t0, 0, 0},
		{"empty code", rfcSecret, "", t0, 0, 0},
		{"other secret", "JBSWY3DPEHPK3PXP", code, t0, 0, 0},
		{"bad secret", "not base32!", code, t0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := VerifyTOTP(tc.secret, tc.code, tc.now, tc.usedUpTo)
			if ok != (tc.want != 0) || got != tc.want {
				t.Errorf("VerifyTOTP = %d, %v; want %d", got, ok, tc.want)
			}
		})
	}
}

// TestVerifyTOTPNextStep: once a code is used, the next step's code is
// accepted, and then neither.
func TestVerifyTOTPNextStep(t *testing.T) {
	t0 := time.Unix(1111111109, 0)
	first, _ := TOTPCode(rfcSecret, t0)
	next, _ := TOTPCode(rfcSecret, t0.Add(30*time.Second))
	used, ok := VerifyTOTP(rfcSecret, first, t0, 0)
	if !ok {
		t.Fatal("first code refused")
	}
	if _, ok := VerifyTOTP(rfcSecret, first, t0, used); ok {
		t.Fatal("first code accepted twice")
	}
	step, ok := VerifyTOTP(rfcSecret, next, t0, used)
	if !ok || step != used+1 {
		t.Fatalf("next step's code = %d, %v; want %d", step, ok, used+1)
	}
	for _, c := range []string{first, next} {
		if _, ok := VerifyTOTP(rfcSecret, c, t0.Add(30*time.Second), step); ok {
			t.Fatalf("code %s accepted after step %d was used", c, step)
		}
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
	if _, ok := VerifyTOTP(secret, code, now, 0); !ok {
		t.Error("VerifyTOTP(TOTPCode(now)) = false")
	}
	if _, _, err := NewTOTP("", "ada@example.com"); err == nil {
		t.Error("NewTOTP without issuer succeeded")
	}
}
