package domain

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/directory/credential"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testService is a directory domain service on a temporary store, with its
// clock and an organization signed up from 192.0.2.1.
type testService struct {
	*Service
	clock *testClock
	su    *directoryv1.SignUpResponse
}

// ownerPassword is the password of the owner newTestService signs up.
const ownerPassword = "correct horse battery"

func newTestService(t *testing.T, limits *Limits) *testService {
	t.Helper()
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "directory.db"), bboltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	log, err := eventlog.New(st, "directory", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	svc, err := New(context.Background(), st, log, Options{Limits: limits, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	su, err := svc.SignUp(context.Background(), Actor{SourceAddress: "192.0.2.1"}, &directoryv1.SignUpRequest{
		OrganizationId: "o1", OrganizationDisplayName: "O1", Nickname: "owner", Email: "owner@o1.example", Password: ownerPassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testService{Service: svc, clock: clock, su: su}
}

// signIn signs in as the owner from source with password and code.
func (s *testService) signIn(source, password, code string) (*directoryv1.SignInResponse, error) {
	return s.SignIn(context.Background(), Actor{SourceAddress: source}, &directoryv1.SignInRequest{
		Organization: s.su.GetOrganization().GetName(),
		Credential: &directoryv1.SignInRequest_Password{Password: &directoryv1.PasswordCredential{
			Email: s.su.GetOwner().GetEmail(), Password: password, TotpCode: code,
		}},
	})
}

// Issue 9 item 2: wrong passwords from one source do not keep the owner
// out from another, while that source stays limited; a many-source attack
// is bounded by the account's ceiling, which the sources the owner signed in
// from do not draw from.
func TestSignInFailuresFromOneSource(t *testing.T) {
	s := newTestService(t, nil)
	const attacker, owner = "203.0.113.66", "198.51.100.7"
	for i := range 12 {
		_, err := s.signIn(attacker, "wrong password", "")
		if i < 10 && !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("wrong password %d: %v, want ErrInvalidCredentials", i, err)
		}
		if i >= 10 {
			wantRetry(t, err, fmt.Sprintf("wrong password %d", i))
		}
	}
	if _, err := s.signIn(owner, ownerPassword, ""); err != nil {
		t.Fatalf("the owner from another source: %v", err)
	}
	_, err := s.signIn(attacker, ownerPassword, "")
	wantRetry(t, err, "the attacker's source, even with the right password")
}

func TestSignInCeiling(t *testing.T) {
	limits := DefaultLimits()
	limits.FailedSignInAccountSourceBurst = 2
	limits.FailedSignInAccountBurst = 6
	s := newTestService(t, &limits)
	const home = "198.51.100.7"
	if _, err := s.signIn(home, ownerPassword, ""); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := range 5 {
		for range 3 {
			if _, err := s.signIn(fmt.Sprintf("203.0.113.%d", i), "wrong password", ""); errors.Is(err, ErrTooManyAttempts) {
				refused++
			}
		}
	}
	if refused != 15-limits.FailedSignInAccountBurst {
		t.Fatalf("%d of 15 attempts from 5 sources refused, want all but the ceiling's %d", refused, limits.FailedSignInAccountBurst)
	}
	_, err := s.signIn("192.0.2.200", ownerPassword, "")
	wantRetry(t, err, "a new source at the ceiling")
	if _, err := s.signIn(home, ownerPassword, ""); err != nil {
		t.Fatalf("the owner from a source they signed in from: %v", err)
	}
}

// Issue 9 item 9 (RFC 6238 §5.2): a TOTP code is accepted once per account,
// at sign-in as at the re-enrolment check; a replay fails like a wrong code;
// the next step's code is accepted.
func TestTOTPSingleUse(t *testing.T) {
	limits := DefaultLimits()
	limits.FailedSignInAccountSourceBurst = 100
	limits.FailedSignInSourceBurst = 100
	s := newTestService(t, &limits)
	ctx := context.Background()
	owner := s.su.GetOwner().GetName()
	me := Actor{Name: owner, Organization: s.su.GetOrganization().GetName()}
	code := func(secret string, steps int) string {
		c, err := credential.TOTPCode(secret, s.clock.Now().Add(time.Duration(steps)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	enr, err := s.EnrollTotp(ctx, me, owner, "")
	if err != nil {
		t.Fatal(err)
	}
	confirm := code(enr.GetSecret(), 0)
	if _, err := s.ConfirmTotp(ctx, me, owner, confirm); err != nil {
		t.Fatal(err)
	}

	_, wrong := s.signIn("192.0.2.1", ownerPassword, "000000")
	_, replayed := s.signIn("192.0.2.1", ownerPassword, confirm)
	if !errors.Is(replayed, ErrTOTPRequired) || replayed.Error() != wrong.Error() {
		t.Fatalf("the confirmation code replayed at sign-in: %v, want %v (a wrong code's)", replayed, wrong)
	}
	next := code(enr.GetSecret(), 1)
	if _, err := s.signIn("192.0.2.1", ownerPassword, next); err != nil {
		t.Fatalf("the next step's code: %v", err)
	}
	if _, err := s.signIn("192.0.2.1", ownerPassword, next); !errors.Is(err, ErrTOTPRequired) {
		t.Fatalf("a sign-in code replayed: %v, want ErrTOTPRequired", err)
	}
	// The previous step's code is in the skew window but older than one
	// used.
	s.clock.Add(30 * time.Second)
	if _, err := s.signIn("192.0.2.1", ownerPassword, confirm); !errors.Is(err, ErrTOTPRequired) {
		t.Fatalf("an older code after a newer one: %v, want ErrTOTPRequired", err)
	}
	if _, err := s.EnrollTotp(ctx, me, owner, next); !errors.Is(err, ErrTOTPRequired) {
		t.Fatalf("re-enrolment with a used code: %v, want ErrTOTPRequired", err)
	}

	// The re-enrolment check uses its code up too.
	s.clock.Add(30 * time.Second)
	current := code(enr.GetSecret(), 0)
	again, err := s.EnrollTotp(ctx, me, owner, current)
	if err != nil {
		t.Fatalf("re-enrolment with a fresh code: %v", err)
	}
	if _, err := s.signIn("192.0.2.1", ownerPassword, current); !errors.Is(err, ErrTOTPRequired) {
		t.Fatalf("the re-enrolment check's code at sign-in: %v, want ErrTOTPRequired", err)
	}
	// The new secret's codes are its own: its confirmation may use the
	// same step, and then its code is used up.
	newCode := code(again.GetSecret(), 0)
	if _, err := s.ConfirmTotp(ctx, me, owner, newCode); err != nil {
		t.Fatalf("confirming the new secret in the same step: %v", err)
	}
	if _, err := s.signIn("192.0.2.1", ownerPassword, newCode); !errors.Is(err, ErrTOTPRequired) {
		t.Fatalf("the new secret's confirmation code at sign-in: %v, want ErrTOTPRequired", err)
	}
	if _, err := s.signIn("192.0.2.1", ownerPassword, code(again.GetSecret(), 1)); err != nil {
		t.Fatalf("the new secret's next code: %v", err)
	}
}

// Issue 9 item 9: of concurrent sign-ins with one code, one succeeds.
func TestTOTPSingleUseConcurrent(t *testing.T) {
	limits := DefaultLimits()
	limits.FailedSignInAccountSourceBurst = 100
	limits.FailedSignInSourceBurst = 100
	s := newTestService(t, &limits)
	ctx := context.Background()
	owner := s.su.GetOwner().GetName()
	me := Actor{Name: owner, Organization: s.su.GetOrganization().GetName()}
	enr, err := s.EnrollTotp(ctx, me, owner, "")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := credential.TOTPCode(enr.GetSecret(), s.clock.Now())
	if _, err := s.ConfirmTotp(ctx, me, owner, first); err != nil {
		t.Fatal(err)
	}
	next, _ := credential.TOTPCode(enr.GetSecret(), s.clock.Now().Add(30*time.Second))
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.signIn("192.0.2.1", ownerPassword, next) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrTOTPRequired):
			t.Fatalf("concurrent sign-in: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent sign-ins with one code succeeded, want 1", ok, len(errs))
	}
}

// Issue 9 item 4 review (R9): guesses of the current code that replacing
// an authenticator needs count like sign-in attempts, so a stolen session
// cannot try codes until one matches; the right code from that source is
// then refused too, while another source may still try.
func TestReenrolmentCodeGuessesLimited(t *testing.T) {
	s := newTestService(t, nil)
	ctx := context.Background()
	owner := s.su.GetOwner().GetName()
	me := Actor{Name: owner, Organization: s.su.GetOrganization().GetName(), SourceAddress: "203.0.113.66"}
	enr, err := s.EnrollTotp(ctx, me, owner, "")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := credential.TOTPCode(enr.GetSecret(), s.clock.Now())
	if _, err := s.ConfirmTotp(ctx, me, owner, first); err != nil {
		t.Fatal(err)
	}
	wrong := "000000"
	for i := range 10 {
		if _, err := s.EnrollTotp(ctx, me, owner, wrong); !errors.Is(err, ErrTOTPRequired) {
			t.Fatalf("guess %d: %v, want ErrTOTPRequired", i, err)
		}
	}
	next, _ := credential.TOTPCode(enr.GetSecret(), s.clock.Now().Add(30*time.Second))
	_, err = s.EnrollTotp(ctx, me, owner, next)
	wantRetry(t, err, "the right code after ten guesses")
	me.SourceAddress = "198.51.100.7"
	if _, err := s.EnrollTotp(ctx, me, owner, next); err != nil {
		t.Fatalf("the right code from another source: %v", err)
	}
}
