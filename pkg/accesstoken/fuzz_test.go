package accesstoken_test

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"steward.dev/pkg/accesstoken"
)

// fuzzSigner returns a signer with a fresh key.
func fuzzSigner(f *testing.F) *accesstoken.Signer {
	f.Helper()
	k, err := accesstoken.GenerateKey()
	if err != nil {
		f.Fatal(err)
	}
	s, err := accesstoken.NewSigner("https://steward.test", "steward", k)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

// FuzzSignVerifyRoundTrip signs arbitrary claims: Sign either refuses them
// or issues a token that Verify, at its issue time, returns unchanged
// (strings that are not UTF-8 cannot survive JSON and are only required
// not to break anything).
func FuzzSignVerifyRoundTrip(f *testing.F) {
	s := fuzzSigner(f)
	f.Add("organizations/o/users/u", "organizations/o", "sid", "Ada", uint8(0), false, int64(1), int64(1_700_000_000), int64(900))
	f.Add("organizations/o/robotAccounts/r", "organizations/o", "", "", uint8(1), true, int64(0), int64(0), int64(1))
	f.Add("", "", "", "\x00\u202e", uint8(9), false, int64(-1), int64(-5), int64(-5))
	f.Add("a\"b\\c", "{}", "..", "\xff", uint8(2), false, int64(1<<62), int64(1<<40), int64(1<<20))
	kinds := []string{accesstoken.KindUser, accesstoken.KindRobotAccount, accesstoken.KindExternalApp, "", "admin"}
	f.Fuzz(func(t *testing.T, sub, org, sid, name string, kind uint8, enroll bool, created, iat, ttl int64) {
		iat = iat % (1 << 40) // seconds: far past to far future, in range of time.Time
		ttl = ttl % (1 << 30)
		c := accesstoken.Claims{
			Subject: sub, Organization: org, SessionID: sid, DisplayName: name,
			Kind: kinds[int(kind)%len(kinds)], EnrollmentOnly: enroll, SubjectCreated: created,
			IssuedAt: time.Unix(iat, 0), Expiry: time.Unix(iat+ttl, 0),
		}
		raw, err := s.Sign(c)
		if err != nil {
			return
		}
		got, err := s.Verify(raw, c.IssuedAt)
		if err != nil {
			if !errors.Is(err, accesstoken.ErrInvalid) {
				t.Fatalf("Verify error %v does not wrap ErrInvalid", err)
			}
			if len(raw) <= accesstoken.MaxTokenLen {
				t.Fatalf("Verify refused a token Sign issued a moment ago: %v", err)
			}
			return
		}
		for _, s := range []string{sub, org, sid, name} {
			if !utf8.ValidString(s) {
				return
			}
		}
		if got.Subject != c.Subject || got.Organization != c.Organization || got.SessionID != c.SessionID ||
			got.DisplayName != c.DisplayName || got.Kind != c.Kind || got.EnrollmentOnly != c.EnrollmentOnly ||
			got.SubjectCreated != c.SubjectCreated || !got.IssuedAt.Equal(c.IssuedAt) || !got.Expiry.Equal(c.Expiry) {
			t.Fatalf("round trip changed the claims:\n got %+v\nwant %+v", got, c)
		}
	})
}

// FuzzVerifyMutated changes, cuts or extends one genuine token: every
// spelling but the genuine one must be refused (no malleable encodings, no
// truncation or padding accepted).
func FuzzVerifyMutated(f *testing.F) {
	s := fuzzSigner(f)
	now := time.Unix(1_700_000_000, 0)
	good, err := s.Sign(accesstoken.Claims{Subject: "organizations/o/users/u", Organization: "organizations/o", SessionID: "s1",
		Kind: accesstoken.KindUser, IssuedAt: now, Expiry: now.Add(15 * time.Minute)})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := s.Verify(good, now); err != nil {
		f.Fatal(err)
	}
	f.Add(uint16(0), byte('x'), uint8(0))
	f.Add(uint16(len(good)-1), byte('B'), uint8(0)) // trailing bits of the signature
	f.Add(uint16(len(good)/2), byte('.'), uint8(0))
	f.Add(uint16(len(good)-1), byte(0), uint8(1))
	f.Add(uint16(len(good)), byte('='), uint8(2))
	f.Fuzz(func(t *testing.T, pos uint16, b byte, op uint8) {
		i := int(pos) % (len(good) + 1)
		var raw string
		switch op % 3 {
		case 0: // replace
			if i == len(good) {
				return
			}
			raw = good[:i] + string([]byte{b}) + good[i+1:]
		case 1: // cut
			raw = good[:i]
		default: // insert
			raw = good[:i] + string([]byte{b}) + good[i:]
		}
		if raw == good {
			return
		}
		if c, err := s.Verify(raw, now); err == nil {
			t.Fatalf("Verify accepted %q (a changed %q) as %+v", raw, good, c)
		} else if !errors.Is(err, accesstoken.ErrInvalid) {
			t.Fatalf("Verify error %v does not wrap ErrInvalid", err)
		}
	})
}
