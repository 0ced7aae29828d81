package credential

import (
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpOptions are the TOTP parameters every authenticator app supports
// (RFC 6238 defaults): HMAC-SHA1, six digits, 30-second steps, and one step of
// clock skew accepted either way.
var totpOptions = totp.ValidateOpts{
	Period:    30,
	Skew:      1,
	Digits:    otp.DigitsSix,
	Algorithm: otp.AlgorithmSHA1,
}

// NewTOTP makes a TOTP secret for accountName at issuer. It returns the secret
// (base32, to store) and the otpauth:// URI to show the user, usually as a QR
// code, so their authenticator app can enrol it.
func NewTOTP(issuer, accountName string) (secret, otpauthURI string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: accountName,
		Period:      totpOptions.Period,
		Digits:      totpOptions.Digits,
		Algorithm:   totpOptions.Algorithm,
	})
	if err != nil {
		return "", "", fmt.Errorf("credential: new totp: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// ValidateTOTP reports whether code is the TOTP code of secret at now, or at
// the step just before or after it. It does not stop a code from being used
// twice within its window; callers that need that must remember used steps.
func ValidateTOTP(secret, code string, now time.Time) bool {
	ok, err := totp.ValidateCustom(code, secret, now, totpOptions)
	return err == nil && ok
}

// TOTPCode returns the TOTP code of secret at now. The service never needs it;
// it is exported for tests that play the part of an authenticator app.
func TOTPCode(secret string, now time.Time) (string, error) {
	code, err := totp.GenerateCodeCustom(secret, now, totpOptions)
	if err != nil {
		return "", fmt.Errorf("credential: totp code: %w", err)
	}
	return code, nil
}
