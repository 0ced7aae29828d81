// Package verifier is the authn.Verifier of every Steward service but the
// directory (issue 9 items 4 and 10).
//
// Access tokens are verified locally first, with the directory's public
// keys (pkg/accesstoken, fetched from GetJwks): a forged, malformed or
// expired token never costs a network call. Whether the token's user is
// still active, still the same incarnation (uct) and still in the token's
// session generation (sgen) comes from a cache of the directory's
// VerifyCredential answers, or from the directory. API keys are opaque:
// the directory verifies them, and the answers are cached the same way.
//
// The cache is only trusted while the verifier follows the directory's
// event log (Run): it drops cached answers about a principal or a key as
// soon as an event says the user was deleted, deactivated or updated, the
// key revoked or deleted, or the robot account or external application
// deleted or updated. While the watch is not connected nothing is served
// from the cache: every credential is asked of the directory. The
// directory's cache_until stays a bound of last resort.
package verifier

import (
	"container/list"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/accesstoken"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/eventlog"
)

// Defaults of a Verifier.
const (
	// DefaultMaxEntries bounds the cache.
	DefaultMaxEntries = 10_000
	// DefaultKeyRefreshInterval is how often Run fetches the directory's
	// keys even when no token asks for an unknown one.
	DefaultKeyRefreshInterval = 5 * time.Minute
	// minBackoff and maxBackoff bound the wait before Run reconnects.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// refusal is the message of every refused credential: why goes to the
// call's log line only, never to the caller (issue 9 item 8).
const refusal = "invalid credentials"

// Events is the directory's event log as a Verifier follows it.
type Events interface {
	// Head returns the sequence of the log's newest event.
	Head(ctx context.Context) (uint64, error)
	// Watch calls fn with every event after the sequence after, in order,
	// then tails new ones, until ctx is done, the stream fails or fn
	// returns an error.
	Watch(ctx context.Context, after uint64, fn func(*eventlogv1.Event) error) error
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithEvents makes the verifier follow events instead of the directory's
// EventLogService on its connection.
func WithEvents(e Events) Option { return func(v *Verifier) { v.events = e } }

// WithLogger sets the logger of Run's reconnections; default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(v *Verifier) { v.logger = l } }

// Verifier verifies bearer credentials: tokens locally, then their
// principal's state and API keys through a cache of the directory's answers
// that the directory's events invalidate. Call Run to follow the events;
// without it, every credential is asked of the directory.
type Verifier struct {
	client directoryv1.DirectoryServiceClient
	keys   *accesstoken.RemoteKeySet
	events Events
	logger *slog.Logger
	now    func() time.Time
	max    int
	// keyRefresh is how often Run refreshes the keys.
	keyRefresh time.Duration

	mu sync.Mutex
	// following reports whether the event watch is connected: only then
	// is the cache used.
	following bool
	// epoch changes with every invalidation and connection change; an
	// answer is cached only if it did not change during the call.
	epoch   uint64
	entries map[string]*list.Element
	lru     list.List // of *entry, most recent first
	// deps are the cache keys of the entries about each principal or key
	// name.
	deps map[string]map[string]struct{}
}

// entry is a cached answer of the directory: a user's state as of a token
// (cache key "u:" + user name), or an API key's principal (cache key "k:" +
// SHA-256 of the key).
type entry struct {
	key       string
	principal authn.Principal // SessionID empty for users
	names     []string        // principal and key names it depends on
	apiKey    bool
	// subjectCreated and generation are the incarnation and session
	// generation of a user's tokens that the directory accepted.
	subjectCreated int64
	generation     uint64
	until          time.Time
}

// New returns a Verifier calling the directory over conn, which must carry
// the calling service's credential (VerifyCredential and the event log are
// internal).
func New(conn grpc.ClientConnInterface, opts ...Option) *Verifier {
	v := &Verifier{
		client:     directoryv1.NewDirectoryServiceClient(conn),
		events:     clientEvents{eventlogv1.NewEventLogServiceClient(conn)},
		logger:     slog.Default(),
		now:        time.Now,
		max:        DefaultMaxEntries,
		keyRefresh: DefaultKeyRefreshInterval,
		entries:    make(map[string]*list.Element),
		deps:       make(map[string]map[string]struct{}),
	}
	for _, o := range opts {
		o(v)
	}
	v.keys = accesstoken.NewRemoteKeySet(accesstoken.Issuer, accesstoken.Audience, v.fetchKeys,
		accesstoken.RemoteOptions{Clock: func() time.Time { return v.now() }})
	return v
}

// fetchKeys returns the directory's published keys.
func (v *Verifier) fetchKeys(ctx context.Context) ([]accesstoken.JWK, error) {
	resp, err := v.client.GetJwks(ctx, &directoryv1.GetJwksRequest{})
	if err != nil {
		return nil, err
	}
	jwks := make([]accesstoken.JWK, 0, len(resp.GetKeys()))
	for _, k := range resp.GetKeys() {
		jwks = append(jwks, accesstoken.JWK{Kty: k.GetKty(), Crv: k.GetCrv(), X: k.GetX(), Kid: k.GetKid(), Alg: k.GetAlg(), Use: k.GetUse()})
	}
	return jwks, nil
}

// Verify returns the principal credential speaks for. A credential that is
// not valid matches authn.ErrUnauthenticated, with a fixed message; a
// directory that cannot be reached is a status error Unavailable.
func (v *Verifier) Verify(ctx context.Context, credential string) (authn.Principal, error) {
	if strings.HasPrefix(credential, "stwk_") {
		return v.verifyAPIKey(ctx, credential)
	}
	return v.verifyToken(ctx, credential)
}

func (v *Verifier) verifyToken(ctx context.Context, raw string) (authn.Principal, error) {
	c, err := v.keys.Verify(ctx, raw)
	switch {
	case errors.Is(err, accesstoken.ErrInvalid):
		return authn.Principal{}, refuse(ctx, err.Error())
	case err != nil:
		logging.AddFields(ctx, logging.Fields{"credential_error", err.Error()})
		return authn.Principal{}, status.Error(codes.Unavailable, "the credential could not be verified; try again")
	case c.EnrollmentOnly:
		// Good only for the caller's TOTP enrolment, at the directory.
		return authn.Principal{}, refuse(ctx, "enrolment-only token")
	}
	key := "u:" + c.Subject
	v.mu.Lock()
	e, ok := v.cachedLocked(key)
	v.mu.Unlock()
	if ok && e.subjectCreated == c.SubjectCreated {
		switch {
		case c.SessionGeneration == e.generation:
			p := e.principal
			p.SessionID = c.SessionID
			return p, nil
		case c.SessionGeneration < e.generation:
			return authn.Principal{}, refuse(ctx, fmt.Sprintf("token of %s from an ended session generation", c.Subject))
		}
	}
	p, until, epoch, err := v.ask(ctx, &directoryv1.VerifyCredentialRequest{
		Credential: &directoryv1.VerifyCredentialRequest_AccessToken{AccessToken: raw}})
	if err != nil {
		return authn.Principal{}, err
	}
	if p.Name == c.Subject {
		cached := p
		cached.SessionID = ""
		v.store(epoch, &entry{key: key, principal: cached, names: []string{p.Name}, subjectCreated: c.SubjectCreated, generation: c.SessionGeneration, until: until})
	}
	return p, nil
}

func (v *Verifier) verifyAPIKey(ctx context.Context, secret string) (authn.Principal, error) {
	sum := sha256.Sum256([]byte(secret))
	key := "k:" + string(sum[:])
	v.mu.Lock()
	e, ok := v.cachedLocked(key)
	v.mu.Unlock()
	if ok {
		return e.principal, nil
	}
	p, until, epoch, err := v.ask(ctx, &directoryv1.VerifyCredentialRequest{
		Credential: &directoryv1.VerifyCredentialRequest_ApiKey{ApiKey: secret}})
	if err != nil {
		return authn.Principal{}, err
	}
	v.store(epoch, &entry{key: key, principal: p, names: []string{p.Name, p.SessionID}, apiKey: true, until: until})
	return p, nil
}

// ask asks the directory about a credential and returns the principal, how
// long the answer may be cached, and the epoch before the call.
func (v *Verifier) ask(ctx context.Context, req *directoryv1.VerifyCredentialRequest) (authn.Principal, time.Time, uint64, error) {
	v.mu.Lock()
	epoch := v.epoch
	v.mu.Unlock()
	resp, err := v.client.VerifyCredential(ctx, req)
	if err != nil {
		switch status.Code(err) {
		case codes.Unauthenticated, codes.FailedPrecondition, codes.InvalidArgument, codes.NotFound:
			return authn.Principal{}, time.Time{}, 0, refuse(ctx, "directory: "+status.Convert(err).Message())
		}
		logging.AddFields(ctx, logging.Fields{"credential_error", err.Error()})
		return authn.Principal{}, time.Time{}, 0, status.Error(codes.Unavailable, "the credential could not be verified; try again")
	}
	pr := resp.GetPrincipal()
	p := authn.Principal{
		Kind:         authn.KindOf(pr.GetName()),
		Name:         pr.GetName(),
		Organization: pr.GetOrganization(),
		SessionID:    pr.GetSessionId(),
		DisplayName:  pr.GetDisplayName(),
	}
	return p, resp.GetCacheUntil().AsTime(), epoch, nil
}

// refuse returns the error of a refused credential, whose reason goes to
// the call's log line.
func refuse(ctx context.Context, why string) error {
	logging.AddFields(ctx, logging.Fields{"credential_refused", why})
	return fmt.Errorf("%w: %s", authn.ErrUnauthenticated, refusal)
}

// cachedLocked returns the live entry under key, if the cache may be used.
// v.mu must be held.
func (v *Verifier) cachedLocked(key string) (*entry, bool) {
	if !v.following {
		return nil, false
	}
	el, ok := v.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	if !v.now().Before(e.until) {
		v.removeLocked(el)
		return nil, false
	}
	v.lru.MoveToFront(el)
	return e, true
}

// store caches e unless the watch is not connected or the epoch changed
// since the directory was asked (an event or a reconnection in between may
// have made the answer stale).
func (v *Verifier) store(epoch uint64, e *entry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.following || v.epoch != epoch || !v.now().Before(e.until) {
		return
	}
	if el, ok := v.entries[e.key]; ok {
		v.removeLocked(el)
	}
	v.entries[e.key] = v.lru.PushFront(e)
	for _, n := range e.names {
		if n == "" {
			continue
		}
		if v.deps[n] == nil {
			v.deps[n] = make(map[string]struct{})
		}
		v.deps[n][e.key] = struct{}{}
	}
	for v.lru.Len() > v.max {
		v.removeLocked(v.lru.Back())
	}
}

// removeLocked removes el from the cache. v.mu must be held.
func (v *Verifier) removeLocked(el *list.Element) {
	e := el.Value.(*entry)
	v.lru.Remove(el)
	delete(v.entries, e.key)
	for _, n := range e.names {
		if d := v.deps[n]; d != nil {
			delete(d, e.key)
			if len(d) == 0 {
				delete(v.deps, n)
			}
		}
	}
}

// apply drops the cached answers ev makes stale.
func (v *Verifier) apply(ev *eventlogv1.Event) {
	var allKeys bool
	typ, _ := eventlog.ParseType[directoryv1.EventType](ev.GetType())
	switch typ {
	case directoryv1.EventType_EVENT_TYPE_USER_DELETED, directoryv1.EventType_EVENT_TYPE_USER_DEACTIVATED:
		// The keys a user created act with the creator's rights, and
		// are suspended or revoked with them: drop every cached key.
		allKeys = true
	case directoryv1.EventType_EVENT_TYPE_USER_UPDATED, directoryv1.EventType_EVENT_TYPE_API_KEY_REVOKED,
		directoryv1.EventType_EVENT_TYPE_API_KEY_DELETED, directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_UPDATED,
		directoryv1.EventType_EVENT_TYPE_ROBOT_ACCOUNT_DELETED, directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_UPDATED,
		directoryv1.EventType_EVENT_TYPE_EXTERNAL_APP_DELETED:
	default:
		return
	}
	name := nameOf(ev)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.epoch++
	for key := range v.deps[name] {
		if el, ok := v.entries[key]; ok {
			v.removeLocked(el)
		}
	}
	if allKeys {
		for el := v.lru.Front(); el != nil; {
			next := el.Next()
			if el.Value.(*entry).apiKey {
				v.removeLocked(el)
			}
			el = next
		}
	}
}

// nameOf returns the resource name ev is about: its resource, or the name
// of its data.
func nameOf(ev *eventlogv1.Event) string {
	if r := ev.GetResource(); r != "" {
		return r
	}
	if ev.GetData() == nil {
		return ""
	}
	m, err := anypb.UnmarshalNew(ev.GetData(), proto.UnmarshalOptions{})
	if err != nil {
		return ""
	}
	fd := m.ProtoReflect().Descriptor().Fields().ByName("name")
	if fd == nil || fd.Kind() != protoreflect.StringKind {
		return ""
	}
	return m.ProtoReflect().Get(fd).String()
}

// setFollowing records whether the watch is connected; either way the
// cache starts empty.
func (v *Verifier) setFollowing(on bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.following = on
	v.epoch++
	v.entries = make(map[string]*list.Element)
	v.deps = make(map[string]map[string]struct{})
	v.lru.Init()
}

// Run follows the directory's event log until ctx is done, reconnecting
// after failures, and refreshes the directory's keys periodically. It
// always returns nil once ctx is done.
func (v *Verifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { v.refreshKeys(ctx) })
	backoff := minBackoff
	for {
		connected, err := v.follow(ctx)
		v.setFollowing(false)
		if ctx.Err() != nil {
			return nil
		}
		level := slog.LevelDebug // the directory may not be up yet
		if connected || backoff == maxBackoff {
			level = slog.LevelWarn
		}
		if connected {
			backoff = minBackoff
		}
		v.logger.Log(ctx, level, "verifier: not following the directory's events; verifying every credential with the directory", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// follow watches the log from its head. It starts one event before the
// head, so that the first event received (the head) proves the stream is
// live; only then is the cache used. It reports whether it got that far.
func (v *Verifier) follow(ctx context.Context) (bool, error) {
	head, err := v.events.Head(ctx)
	if err != nil {
		return false, err
	}
	after := head
	if head > 0 {
		after = head - 1
	}
	connected := false
	err = v.events.Watch(ctx, after, func(ev *eventlogv1.Event) error {
		if !connected {
			connected = true
			v.setFollowing(true)
			v.logger.Info("verifier: following the directory's events", "from_sequence", ev.GetSequence())
		}
		v.apply(ev)
		return nil
	})
	return connected, err
}

// refreshKeys fetches the directory's keys every keyRefresh until ctx is
// done.
func (v *Verifier) refreshKeys(ctx context.Context) {
	ticker := time.NewTicker(v.keyRefresh)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := v.keys.Refresh(ctx); err != nil && ctx.Err() == nil {
				v.logger.Warn("verifier: fetching the directory's token keys", "error", err)
			}
		}
	}
}

// clientEvents is the directory's EventLogService as Events.
type clientEvents struct {
	client eventlogv1.EventLogServiceClient
}

// Head asks for a ListEvents page after every event there is: it holds no
// events, only the head.
func (c clientEvents) Head(ctx context.Context) (uint64, error) {
	resp, err := c.client.ListEvents(ctx, &eventlogv1.ListEventsRequest{AfterSequence: math.MaxInt64, PageSize: 1})
	if err != nil {
		return 0, err
	}
	return resp.GetHeadSequence(), nil
}

// Watch is eventlog.ClientSource's.
func (c clientEvents) Watch(ctx context.Context, after uint64, fn func(*eventlogv1.Event) error) error {
	return eventlog.NewClientSource(c.client).Watch(ctx, eventlog.Subscription{From: eventlog.Position{Sequence: after}, Consumer: "verifier"}, fn)
}
