package verifier

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/accesstoken"
	"steward.dev/pkg/authn"
)

const (
	org   = "organizations/o1"
	alice = org + "/users/alice"
	robot = org + "/robotAccounts/ci"
	key1  = robot + "/apiKeys/k1"
	app   = org + "/externalApps/app"
	key2  = app + "/apiKeys/k2"
)

// user is the fake directory's state of a user.
type user struct {
	created    int64
	generation uint64
	active     bool
}

// fakeDirectory signs tokens and answers GetJwks and VerifyCredential from
// its users and API keys, counting calls. A VerifyCredential call waits
// while hold is set, after signalling held.
type fakeDirectory struct {
	directoryv1.UnimplementedDirectoryServiceServer
	signer *accesstoken.Signer

	mu     sync.Mutex
	users  map[string]user
	apiKey map[string][2]string // secret -> principal, key name
	down   bool
	hold   chan struct{}
	held   chan struct{}

	verifies atomic.Int64
	jwks     atomic.Int64
}

func (f *fakeDirectory) GetJwks(context.Context, *directoryv1.GetJwksRequest) (*directoryv1.GetJwksResponse, error) {
	f.jwks.Add(1)
	resp := &directoryv1.GetJwksResponse{}
	for _, k := range f.signer.JWKS() {
		resp.Keys = append(resp.Keys, &directoryv1.JsonWebKey{Kty: k.Kty, Crv: k.Crv, X: k.X, Kid: k.Kid, Alg: k.Alg, Use: k.Use})
	}
	return resp, nil
}

func (f *fakeDirectory) VerifyCredential(_ context.Context, req *directoryv1.VerifyCredentialRequest) (*directoryv1.VerifyCredentialResponse, error) {
	f.verifies.Add(1)
	f.mu.Lock()
	hold, held := f.hold, f.held
	f.mu.Unlock()
	if hold != nil {
		held <- struct{}{}
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, status.Error(codes.Internal, "boom")
	}
	refused := status.Error(codes.Unauthenticated, "invalid credentials")
	until := timestamppb.New(time.Now().Add(time.Hour))
	if secret := req.GetApiKey(); secret != "" {
		k, ok := f.apiKey[secret]
		if !ok {
			return nil, refused
		}
		return &directoryv1.VerifyCredentialResponse{Principal: &directoryv1.Principal{Name: k[0], Organization: org, SessionId: k[1]}, CacheUntil: until}, nil
	}
	c, err := f.signer.Verify(req.GetAccessToken(), time.Now())
	if err != nil {
		return nil, refused
	}
	u, ok := f.users[c.Subject]
	if !ok || !u.active || u.created != c.SubjectCreated || c.SessionGeneration < u.generation {
		return nil, refused
	}
	return &directoryv1.VerifyCredentialResponse{Principal: &directoryv1.Principal{Name: c.Subject, Organization: org, SessionId: c.SessionID, DisplayName: "Alice"}, CacheUntil: until}, nil
}

func (f *fakeDirectory) edit(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

// token returns a token of alice's current incarnation and generation
// unless edit changes its claims.
func (f *fakeDirectory) token(t *testing.T, edit func(*accesstoken.Claims)) string {
	t.Helper()
	f.mu.Lock()
	u := f.users[alice]
	f.mu.Unlock()
	now := time.Now()
	c := accesstoken.Claims{Subject: alice, Organization: org, SessionID: "s1", Kind: accesstoken.KindUser,
		SubjectCreated: u.created, SessionGeneration: u.generation, IssuedAt: now, Expiry: now.Add(time.Hour)}
	if edit != nil {
		edit(&c)
	}
	raw, err := f.signer.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// fakeEvents is a directory event log the test feeds: Watch delivers what
// the test sends on events and acknowledges each applied event on applied;
// a value on broken ends the current Watch with an error.
type fakeEvents struct {
	head     uint64
	watching chan uint64
	events   chan *eventlogv1.Event
	applied  chan uint64
	broken   chan struct{}
}

func (f *fakeEvents) Head(context.Context) (uint64, error) { return f.head, nil }

func (f *fakeEvents) Watch(ctx context.Context, after uint64, fn func(*eventlogv1.Event) error) error {
	select {
	case f.watching <- after:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.broken:
			return errors.New("stream broken")
		case ev := <-f.events:
			if err := fn(ev); err != nil {
				return err
			}
			f.applied <- ev.GetSequence()
		}
	}
}

type fixture struct {
	t   *testing.T
	dir *fakeDirectory
	ev  *fakeEvents
	v   *Verifier
	seq uint64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k, err := accesstoken.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := accesstoken.NewSigner(accesstoken.Issuer, accesstoken.Audience, k)
	if err != nil {
		t.Fatal(err)
	}
	dir := &fakeDirectory{signer: signer,
		users:  map[string]user{alice: {created: 100, active: true}},
		apiKey: map[string][2]string{"stwk_one": {robot, key1}, "stwk_two": {app, key2}}}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	directoryv1.RegisterDirectoryServiceServer(srv, dir)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ev := &fakeEvents{head: 10, watching: make(chan uint64), events: make(chan *eventlogv1.Event), applied: make(chan uint64), broken: make(chan struct{})}
	return &fixture{t: t, dir: dir, ev: ev, v: New(conn, WithEvents(ev)), seq: 10}
}

// run starts the verifier's Run until the test ends.
func (f *fixture) run() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.v.Run(ctx)
	}()
	f.t.Cleanup(func() { cancel(); <-done })
}

// connect waits for a Watch and delivers the head event, which makes the
// verifier trust its cache.
func (f *fixture) connect() {
	f.t.Helper()
	if after := <-f.ev.watching; after != f.ev.head-1 {
		f.t.Fatalf("Watch after %d, want one before the head %d", after, f.ev.head)
	}
	f.ev.events <- &eventlogv1.Event{Sequence: f.ev.head, Type: "directory.group.created", Resource: org + "/groups/g"}
	<-f.ev.applied
}

// event delivers an event and waits until it is applied.
func (f *fixture) event(typ, resource string) {
	f.t.Helper()
	f.seq++
	f.ev.events <- &eventlogv1.Event{Sequence: f.seq, Type: typ, Resource: resource}
	<-f.ev.applied
}

// verify verifies credential and returns the error and how many times the
// directory's VerifyCredential was called for it.
func (f *fixture) verify(credential string) (authn.Principal, error, int64) {
	before := f.dir.verifies.Load()
	p, err := f.v.Verify(context.Background(), credential)
	return p, err, f.dir.verifies.Load() - before
}

// wantRefused fails unless err is a refusal with the fixed message.
func wantRefused(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, authn.ErrUnauthenticated) || !strings.HasSuffix(err.Error(), ": invalid credentials") {
		t.Fatalf("error = %v, want ErrUnauthenticated with the fixed message", err)
	}
}

// TestLocalRefusals (issue 9 item 10): malformed, forged, expired and
// misdirected tokens are refused without asking the directory, with a
// fixed message; malformed ones do not even fetch the keys.
func TestLocalRefusals(t *testing.T) {
	f := newFixture(t)
	other, _ := accesstoken.GenerateKey()
	forger, _ := accesstoken.NewSigner(accesstoken.Issuer, accesstoken.Audience, other)
	otherAudience, _ := accesstoken.NewSigner(accesstoken.Issuer, "elsewhere", accesstoken.Key{ID: f.dir.signer.JWKS()[0].Kid, Private: other.Private})
	now := time.Now()
	forged, _ := forger.Sign(accesstoken.Claims{Subject: alice, Kind: accesstoken.KindUser, IssuedAt: now, Expiry: now.Add(time.Hour)})
	misdirected, _ := otherAudience.Sign(accesstoken.Claims{Subject: alice, Kind: accesstoken.KindUser, IssuedAt: now, Expiry: now.Add(time.Hour)})
	for _, tc := range []struct {
		name       string
		credential string
		wantJWKS   int64
	}{
		{"garbage", "not.a.token", 0},
		{"forged", forged, 1},
		{"expired", f.dir.token(t, func(c *accesstoken.Claims) { c.IssuedAt, c.Expiry = now.Add(-2*time.Hour), now.Add(-time.Hour) }), 1},
		{"enrolment only", f.dir.token(t, func(c *accesstoken.Claims) { c.EnrollmentOnly = true }), 1},
		{"other audience, bad signature", misdirected, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err, calls := f.verify(tc.credential)
			wantRefused(t, err)
			if calls != 0 {
				t.Errorf("directory asked %d times", calls)
			}
			if got := f.dir.jwks.Load(); got != tc.wantJWKS {
				t.Errorf("keys fetched %d times, want %d", got, tc.wantJWKS)
			}
		})
	}
}

// TestCacheOnlyWhileFollowing (issue 9 item 4): answers are cached only
// while the watch of the directory's events is connected; before that, and
// after it broke, every credential is asked of the directory.
func TestCacheOnlyWhileFollowing(t *testing.T) {
	f := newFixture(t)
	tok := f.dir.token(t, nil)
	askedEachTime := func(what string) {
		t.Helper()
		for range 2 {
			for _, c := range []string{tok, "stwk_one"} {
				if _, err, calls := f.verify(c); err != nil || calls != 1 {
					t.Fatalf("%s: Verify = %v after %d calls, want the directory asked once", what, err, calls)
				}
			}
		}
	}
	cached := func(what string) {
		t.Helper()
		for _, c := range []string{tok, "stwk_one"} {
			if _, err, _ := f.verify(c); err != nil {
				t.Fatal(err)
			}
			p, err, calls := f.verify(c)
			if err != nil || calls != 0 {
				t.Fatalf("%s: second Verify = %v after %d calls, want cached", what, err, calls)
			}
			if c == tok && (p.Name != alice || p.SessionID != "s1" || p.DisplayName != "Alice" || p.Kind != authn.KindUser) {
				t.Errorf("principal = %+v", p)
			}
			if c == "stwk_one" && (p.Name != robot || p.SessionID != key1 || p.Kind != authn.KindRobotAccount) {
				t.Errorf("principal = %+v", p)
			}
		}
	}
	askedEachTime("not running")
	f.run()
	f.connect()
	cached("following")
	f.ev.broken <- struct{}{}
	<-f.ev.watching // reconnecting: a Watch is open, its first event not yet seen
	askedEachTime("reconnecting")
	f.ev.events <- &eventlogv1.Event{Sequence: f.ev.head, Type: "directory.group.created"}
	<-f.ev.applied
	cached("reconnected")
}

// TestInvalidation (issue 9 item 4): the directory's events drop the
// cached answers they make stale, at once; other events drop nothing.
func TestInvalidation(t *testing.T) {
	for _, tc := range []struct {
		name, typ, resource string
		change              func(d *fakeDirectory)
		credential          string // "" means alice's token
		refused             bool
		droppedAlso         []string // other credentials that must be asked again
	}{
		{"user deactivated", "directory.user.deactivated", alice, func(d *fakeDirectory) { d.users[alice] = user{created: 100, generation: 1} }, "", true, []string{"stwk_one", "stwk_two"}},
		{"user deleted", "directory.user.deleted", alice, func(d *fakeDirectory) { delete(d.users, alice) }, "", true, []string{"stwk_one", "stwk_two"}},
		{"user updated", "directory.user.updated", alice, nil, "", false, nil},
		{"API key revoked", "directory.api_key.revoked", key1, func(d *fakeDirectory) { delete(d.apiKey, "stwk_one") }, "stwk_one", true, nil},
		{"API key deleted", "directory.api_key.deleted", key1, func(d *fakeDirectory) { delete(d.apiKey, "stwk_one") }, "stwk_one", true, nil},
		{"robot account deleted", "directory.robot_account.deleted", robot, func(d *fakeDirectory) { delete(d.apiKey, "stwk_one") }, "stwk_one", true, nil},
		{"robot account updated", "directory.robot_account.updated", robot, nil, "stwk_one", false, nil},
		{"external app deleted", "directory.external_app.deleted", app, func(d *fakeDirectory) { delete(d.apiKey, "stwk_two") }, "stwk_two", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.run()
			f.connect()
			tok := f.dir.token(t, nil)
			all := []string{tok, "stwk_one", "stwk_two"}
			for _, c := range all {
				if _, err := f.v.Verify(context.Background(), c); err != nil {
					t.Fatal(err)
				}
			}
			if tc.change != nil {
				f.dir.edit(func() { tc.change(f.dir) })
			}
			// Before the event the cached answer stands (the bound is the
			// event's arrival); an unrelated event changes nothing.
			f.event("directory.group_member.added", org+"/groups/g")
			cred := tc.credential
			if cred == "" {
				cred = tok
			}
			if _, err, calls := f.verify(cred); err != nil || calls != 0 {
				t.Fatalf("before the event: %v after %d calls, want the cached answer", err, calls)
			}
			f.event(tc.typ, tc.resource)
			_, err, calls := f.verify(cred)
			if calls != 1 {
				t.Errorf("after the event the directory was asked %d times, want 1", calls)
			}
			if tc.refused {
				wantRefused(t, err)
			} else if err != nil {
				t.Fatal(err)
			}
			for _, c := range all {
				if c == cred {
					continue
				}
				_, _, calls := f.verify(c)
				if dropped := strings.Contains(strings.Join(tc.droppedAlso, " "), c); (calls == 1) != dropped {
					t.Errorf("%.12s…: asked %d times, want dropped %v", c, calls, dropped)
				}
			}
		})
	}
}

// TestAnswerRacingAnEvent: an answer that was being fetched when an event
// arrived is not cached (it may predate the event).
func TestAnswerRacingAnEvent(t *testing.T) {
	f := newFixture(t)
	f.run()
	f.connect()
	hold, held := make(chan struct{}), make(chan struct{})
	f.dir.edit(func() { f.dir.hold, f.dir.held = hold, held })
	done := make(chan error)
	go func() {
		_, err := f.v.Verify(context.Background(), "stwk_one")
		done <- err
	}()
	<-held
	f.event("directory.api_key.revoked", key1)
	f.dir.edit(func() { f.dir.hold = nil })
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.dir.edit(func() { delete(f.dir.apiKey, "stwk_one") })
	_, err, calls := f.verify("stwk_one")
	if calls != 1 {
		t.Fatalf("directory asked %d times, want 1: the racing answer must not be cached", calls)
	}
	wantRefused(t, err)
}

// TestSessionGeneration (issue 9 item 4): a token of an ended session
// generation is refused from the cache without a call; a token of another
// incarnation of the user is asked of the directory.
func TestSessionGeneration(t *testing.T) {
	f := newFixture(t)
	f.run()
	f.connect()
	f.dir.edit(func() { f.dir.users[alice] = user{created: 100, generation: 3, active: true} })
	current := f.dir.token(t, nil)
	if _, err := f.v.Verify(context.Background(), current); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		edit      func(*accesstoken.Claims)
		wantCalls int64
	}{
		{"same generation, another session", func(c *accesstoken.Claims) { c.SessionID = "s2" }, 0},
		{"ended generation", func(c *accesstoken.Claims) { c.SessionGeneration = 2 }, 0},
		{"earlier incarnation", func(c *accesstoken.Claims) { c.SubjectCreated = 99 }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err, calls := f.verify(f.dir.token(t, tc.edit))
			if calls != tc.wantCalls {
				t.Errorf("directory asked %d times, want %d", calls, tc.wantCalls)
			}
			if tc.name == "same generation, another session" {
				if err != nil || p.SessionID != "s2" {
					t.Errorf("Verify = %+v, %v", p, err)
				}
				return
			}
			wantRefused(t, err)
		})
	}
}

// TestDirectoryDown: a directory that fails is Unavailable, never a
// refusal of the credential.
func TestDirectoryDown(t *testing.T) {
	f := newFixture(t)
	f.dir.edit(func() { f.dir.down = true })
	for _, c := range []string{f.dir.token(t, nil), "stwk_one"} {
		_, err := f.v.Verify(context.Background(), c)
		if errors.Is(err, authn.ErrUnauthenticated) || status.Code(err) != codes.Unavailable || strings.Contains(err.Error(), "boom") {
			t.Fatalf("failing directory: %v, want Unavailable without its words", err)
		}
	}
}

// TestEviction: the cache never holds more than its bound.
func TestEviction(t *testing.T) {
	f := newFixture(t)
	f.v.max = 1
	f.run()
	f.connect()
	for _, c := range []string{"stwk_one", "stwk_two"} {
		if _, err := f.v.Verify(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	f.v.mu.Lock()
	defer f.v.mu.Unlock()
	if f.v.lru.Len() != 1 || len(f.v.entries) != 1 || len(f.v.deps) != 2 {
		t.Fatalf("cache holds %d/%d entries, %d dependencies; want 1, 1, 2", f.v.lru.Len(), len(f.v.entries), len(f.v.deps))
	}
}
