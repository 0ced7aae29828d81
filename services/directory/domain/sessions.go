package domain

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/accesstoken"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/services/directory/token"
)

// Access tokens name the user's incarnation (the "uct" claim: its create
// time) and its session generation (the "sgen" claim): deactivating or
// deleting a user bumps its generation, and VerifyCredential refuses tokens
// of an older generation, so that a reactivated user's old sessions stay
// dead (issue 9 item 4). The generation is kept under its own key, not in
// the user's secrets, and outlives the user: a user re-created under the
// same ID starts above every token of the one before.

// sessionGeneration returns user's session generation (0 if never bumped).
func sessionGeneration(tx store.ReadTx, user string) (uint64, error) {
	return store.GetUint64(tx, []byte(sessionGenPrefix+user))
}

// endSessions bumps user's session generation: every token issued to the
// user so far is refused from now on.
func (t *txn) endSessions(user string) error {
	gen, err := sessionGeneration(t, user)
	if err != nil {
		return err
	}
	return store.PutUint64(t, []byte(sessionGenPrefix+user), gen+1)
}

// signToken returns a token for a session of u, signed in t so that it
// names u's current incarnation and session generation: it fails with
// ErrInvalidCredentials when u was deleted (or deleted and re-created)
// since it was read, ErrUserInactive when u was deactivated.
func (t *txn) signToken(u *directoryv1.User, session string, enrollOnly bool) (string, accesstoken.Claims, error) {
	cur := &directoryv1.User{}
	if err := get(t, u.GetName(), cur); errors.Is(err, ErrNotFound) {
		return "", accesstoken.Claims{}, errorf(ErrInvalidCredentials, "invalid credentials")
	} else if err != nil {
		return "", accesstoken.Claims{}, err
	}
	if createdNanos(cur) != createdNanos(u) {
		return "", accesstoken.Claims{}, errorf(ErrInvalidCredentials, "invalid credentials")
	}
	if cur.GetState() != directoryv1.User_STATE_ACTIVE {
		return "", accesstoken.Claims{}, errorf(ErrUserInactive, "the account is inactive")
	}
	gen, err := sessionGeneration(t, cur.GetName())
	if err != nil {
		return "", accesstoken.Claims{}, err
	}
	c := accesstoken.Claims{
		Subject:           cur.GetName(),
		Organization:      resourcename.OrganizationOf(cur.GetName()),
		SessionID:         session,
		DisplayName:       cur.GetDisplayName(),
		Kind:              accesstoken.KindUser,
		EnrollmentOnly:    enrollOnly,
		SubjectCreated:    createdNanos(cur),
		SessionGeneration: gen,
		IssuedAt:          t.Now,
		Expiry:            t.Now.Add(t.s.tokenTTL),
	}
	raw, err := t.s.keys.signer().Sign(c)
	return raw, c, err
}

// signingKeys holds the signer of the current key ring; mu serializes the
// changes of the ring with the swaps of the signer, so that the signer
// never goes back to an older ring.
type signingKeys struct {
	mu      sync.Mutex
	current atomic.Pointer[accesstoken.Signer]
}

// signer returns the signer of the current ring.
func (k *signingKeys) signer() *accesstoken.Signer { return k.current.Load() }

// set makes ring the current one.
func (k *signingKeys) set(ring token.Ring) error {
	signer, err := ring.Signer(TokenIssuer, TokenAudience)
	if err != nil {
		return err
	}
	k.current.Store(signer)
	return nil
}

// loadSigningKeys loads the token signing keys from the store, creating
// them when missing.
func (s *Service) loadSigningKeys(ctx context.Context) error {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	ring, err := token.Load(ctx, s.store, s.clock(), s.tokenTTL)
	if err != nil {
		return err
	}
	return s.keys.set(ring)
}

// FollowSigningKeys keeps the signing keys in step with the rotations other
// replicas of the directory make on a store they share (R32): it tails the
// directory's own log and loads the key ring again at each rotation, until ctx
// is done; failures go to logger, and it tries again. A replica with a store
// of its own has no need of it.
func (s *Service) FollowSigningKeys(ctx context.Context, logger *slog.Logger) error {
	for {
		err := s.followSigningKeys(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logger.Warn("directory: following key rotations; retrying", "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// followSigningKeys takes the log's head, loads the ring (so that no rotation
// before the head is missed), then reloads it at every rotation after.
func (s *Service) followSigningKeys(ctx context.Context) error {
	head, err := s.log.Head(ctx)
	if err != nil {
		return err
	}
	if err := s.loadSigningKeys(ctx); err != nil {
		return err
	}
	return s.log.Watch(ctx, eventlog.Subscription{From: eventlog.Position{Sequence: head}}, func(ev *eventlogv1.Event) error {
		if ev.GetType() != TypeSigningKeysRotated {
			return nil
		}
		return s.loadSigningKeys(ctx)
	})
}

// JWKS returns the public keys that verify access tokens: the signing key,
// the next one (published before it signs) and the retired ones whose
// tokens may not have expired yet.
func (s *Service) JWKS() []accesstoken.JWK { return s.keys.signer().JWKS() }

// signingKeysResource is the resource name of rotation events.
const signingKeysResource = "signingKeys"

// RotateSigningKeys rotates the token signing keys now (issue 9 item 9):
// the next key, already published, starts signing; the signing key is
// retired, and published until the last token it signed has expired; a new
// next key is published. It returns the rotation time, audited as
// TypeSigningKeysRotated.
func (s *Service) RotateSigningKeys(ctx context.Context, actor Actor) (time.Time, error) {
	return s.rotateSigningKeys(ctx, actor, 0)
}

// rotateSigningKeys rotates the keys when the signing key has signed for at
// least every (always when every is 0), else only drops the retired keys
// past their time. It returns the rotation time, zero when it did not
// rotate.
func (s *Service) rotateSigningKeys(ctx context.Context, actor Actor, every time.Duration) (time.Time, error) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	var ring token.Ring
	var rotated time.Time
	_, err := s.update(ctx, actor, func(t *txn) error {
		var err error
		var changed bool
		ring, changed, err = token.Maintain(t.Tx, t.Now, s.tokenTTL)
		if err != nil || (every > 0 && t.Now.Sub(ring.SigningSince) < every) {
			if err == nil && !changed {
				return errUnchanged
			}
			return err
		}
		if ring, err = token.Rotate(t.Tx, t.Now, s.tokenTTL); err != nil {
			return err
		}
		rotated = t.Now
		return t.Emit(TypeSigningKeysRotated, eventlogv1.Operation_OPERATION_UPDATE, signingKeysResource, nil,
			"The access token signing keys were rotated.")
	})
	if errors.Is(err, errUnchanged) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return rotated, s.keys.set(ring)
}

// errUnchanged rolls back a key upkeep that wrote nothing.
var errUnchanged = errors.New("domain: signing keys unchanged")

// KeyRotationActor is who rotates the signing keys on schedule.
var KeyRotationActor = Actor{Name: "services/directory", DisplayName: "directory"}

// RotateSigningKeysIfDue is the scheduled upkeep of the signing keys: it
// rotates them when the signing key has signed for every (never when every
// is 0 or less) and drops retired keys whose tokens have all expired. It
// returns the rotation time, zero when it did not rotate.
func (s *Service) RotateSigningKeysIfDue(ctx context.Context, every time.Duration) (time.Time, error) {
	if every <= 0 {
		every = math.MaxInt64
	}
	return s.rotateSigningKeys(ctx, KeyRotationActor, every)
}
