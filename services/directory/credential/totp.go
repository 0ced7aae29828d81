package credential

import (
	"crypto/subtle"
	"fmt"
	"strings"
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

// VerifyTOTP reports whether code is the TOTP code of secret for a time
// step newer than usedUpTo, the step of the last code accepted (0 if none),
// at now or one step before or after it (clock skew), and returns that
// step, for the caller to remember as the new usedUpTo: a code is then
// accepted only once (RFC 6238 §5.2), and never one older than an accepted
// code.
func VerifyTOTP(secret, code string, now time.Time, usedUpTo int64) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	period := int64(totpOptions.Period)
	current := now.Unix() / period
	for s := current - int64(totpOptions.Skew); s <= current+int64(totpOptions.Skew); s++ {
		if s <= usedUpTo {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*period, 0), totpOptions)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
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
