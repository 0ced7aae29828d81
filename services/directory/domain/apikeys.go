package domain

// API keys of robot accounts and external applications (R10): shown once,
// stored hashed, revocable, with a last-used time.
//
// Store layout (keys of keys.go):
//   - recordPrefix + key name: the ApiKey record (prefix shown, no secret,
//     no hash);
//   - apiKeyIndex + hash: the key's name, while the key is not revoked;
//   - secretPrefix + key name: JSON apiKeySecret, the hash, so revocation
//     and deletion find the index entry to remove;
//   - apiKeyCreatorIndex + creator + "|" + key name: "", while the key is
//     not revoked, so that the keys a user (or key) created are revoked
//     with it.
//
// Key IDs start with the inverted creation time, so that a principal's keys
// are stored, and listed, newest first.
//
// A key's rights are those its principal and its creator both hold, now
// (contract C4, checked by access management). Its creator is the user who
// made it; a key made with another principal's key has that key as
// creator; a key made with a key of its own principal (a rotation) takes
// that key's creator, so it holds what the old key held and outlives it. A
// key is revoked, with an event saying why, when its creator is deleted or
// revoked: a robot's keys never silently stop working. While its creator is
// deactivated the key authenticates nothing (suspended).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/change"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/store"
	"steward.dev/services/directory/credential"
)

// apiKeysCollection is the collection of a principal's API keys.
const apiKeysCollection = "/apiKeys/"

// maxCreatorChain bounds how many keys VerifyCredential follows from a key
// to the user who created the first of them; chains never loop (a creator
// exists before what it creates), so it only guards against corrupt data.
const maxCreatorChain = 32

// apiKeyTouchInterval is how stale last_used_time may get before a
// successful lookup refreshes it.
const apiKeyTouchInterval = time.Minute

// apiKeySecret is the side record of an API key: what is needed to remove
// its index entry.
type apiKeySecret struct {
	// Hash is credential.HashAPIKey of the secret.
	Hash string `json:"hash"`
}

// apiKeyID returns a new API key ID that sorts before every ID made
// earlier: "k", the inverted creation time in fixed-width base 36, and a
// random suffix.
func apiKeyID(now time.Time) string {
	inv := uint64(math.MaxInt64)
	if n := now.UnixNano(); n > 0 {
		inv -= uint64(n)
	}
	ts := strconv.FormatUint(inv, 36)
	return "k" + strings.Repeat("0", 13-len(ts)) + ts + change.NewID()
}

// apiKeyOwner returns how audit messages call the API keys' parent (a robot
// account or external application), or ErrNotFound when it does not exist.
func apiKeyOwner(tx store.ReadTx, parent string) (string, error) {
	var m interface {
		proto.Message
		GetDisplayName() string
	}
	var kind string
	switch {
	case strings.Contains(parent, robotAccountsCollection):
		m, kind = &directoryv1.RobotAccount{}, "robot account"
	case strings.Contains(parent, externalAppsCollection):
		m, kind = &directoryv1.ExternalApp{}, "external application"
	default:
		return "", errorf(ErrNotFound, "%s not found", parent)
	}
	if err := get(tx, parent, m); err != nil {
		return "", err
	}
	return kind + " " + m.GetDisplayName(), nil
}

// putAPIKey stores k (API keys have no etag).
func (t *txn) putAPIKey(k *directoryv1.ApiKey) error {
	return store.PutProto(t.Tx, recordKey(k.GetName()), k)
}

// dropAPIKeyIndex removes the lookup index entry of the key named name, so
// its secret stops working; forget also removes the side record (on
// deletion).
func (t *txn) dropAPIKeyIndex(name string, forget bool) error {
	side := []byte(secretPrefix + name)
	b, err := t.Get(side)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var rec apiKeySecret
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("domain: API key side record of %s: %w", name, err)
	}
	idx := []byte(apiKeyIndex + rec.Hash)
	switch v, err := t.Get(idx); {
	case err == nil && string(v) == name:
		if err := t.Delete(idx); err != nil {
			return err
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	if forget {
		return t.Delete(side)
	}
	return nil
}

// deleteAPIKeys deletes every API key of parent, with their index entries,
// emitting TypeAPIKeyDeleted for each. Call it before deleting parent.
func (t *txn) deleteAPIKeys(parent string) error {
	prefix := recordPrefix + parent + apiKeysCollection
	var keys []*directoryv1.ApiKey
	err := t.Scan([]byte(prefix), nil, func(k, v []byte) (bool, error) {
		if strings.Contains(string(k[len(prefix):]), "/") {
			return true, nil
		}
		m := &directoryv1.ApiKey{}
		if err := proto.Unmarshal(v, m); err != nil {
			return false, err
		}
		keys = append(keys, m)
		return true, nil
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	owner, err := apiKeyOwner(t, parent)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := t.dropAPIKeyIndex(k.GetName(), true); err != nil {
			return err
		}
		if err := t.Delete(creatorIndexKey(k)); err != nil {
			return err
		}
		if err := t.remove(k, TypeAPIKeyDeleted, fmt.Sprintf("API key %s (%s…) of %s was deleted.", k.GetDisplayName(), k.GetPrefix(), owner)); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if err := t.revokeKeysCreatedBy(k.GetName(), fmt.Sprintf("the API key %s (%s…) of %s that created it was deleted", k.GetDisplayName(), k.GetPrefix(), owner)); err != nil {
			return err
		}
	}
	return nil
}

// creatorIndexKey is k's entry in the creator index.
func creatorIndexKey(k *directoryv1.ApiKey) []byte {
	return []byte(apiKeyCreatorIndex + k.GetCreator() + "|" + k.GetName())
}

// revokeKey revokes the live key k: it sets revoke_time, removes its
// lookup and creator index entries and emits TypeAPIKeyRevoked with
// message; then it revokes the keys k created (revokeKeysCreatedBy).
func (t *txn) revokeKey(k *directoryv1.ApiKey, owner, message string) error {
	k.RevokeTime = t.Timestamp()
	if err := t.dropAPIKeyIndex(k.GetName(), false); err != nil {
		return err
	}
	if err := t.Delete(creatorIndexKey(k)); err != nil {
		return err
	}
	if err := t.putAPIKey(k); err != nil {
		return err
	}
	if err := t.updated(TypeAPIKeyRevoked, k, message); err != nil {
		return err
	}
	return t.revokeKeysCreatedBy(k.GetName(), fmt.Sprintf("the API key %s (%s…) of %s that created it was revoked", k.GetDisplayName(), k.GetPrefix(), owner))
}

// revokeKeysCreatedBy revokes every live key creator created, and the keys
// those created, each with a TypeAPIKeyRevoked event whose message ends
// "because " + why (C4): a key never outlives its creator unannounced.
func (t *txn) revokeKeysCreatedBy(creator, why string) error {
	prefix := apiKeyCreatorIndex + creator + "|"
	names, err := keysUnder(t, prefix)
	if err != nil {
		return err
	}
	for _, name := range names {
		k := &directoryv1.ApiKey{}
		switch err := get(t, name, k); {
		case errors.Is(err, ErrNotFound):
			if err := t.Delete([]byte(prefix + name)); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		if k.GetRevokeTime() != nil {
			if err := t.Delete([]byte(prefix + name)); err != nil {
				return err
			}
			continue
		}
		owner, err := apiKeyOwner(t, parentOf(name))
		if err != nil {
			return err
		}
		if err := t.revokeKey(k, owner, fmt.Sprintf("API key %s (%s…) of %s was revoked because %s.", k.GetDisplayName(), k.GetPrefix(), owner, why)); err != nil {
			return err
		}
	}
	return nil
}

// keyCreator returns the creator to record on a new key of parent made by
// actor: the actor, or, for an actor calling with an API key, that key —
// unless it is a key of parent itself, whose creator the new key takes (a
// rotation then yields a key with the old one's rights that outlives it).
func keyCreator(tx store.ReadTx, actor Actor, parent string) (string, error) {
	if actor.APIKey == "" {
		return actor.Name, nil
	}
	if parentOf(actor.APIKey) != parent {
		return actor.APIKey, nil
	}
	k := &directoryv1.ApiKey{}
	if err := get(tx, actor.APIKey, k); err != nil {
		return "", err
	}
	if c := k.GetCreator(); c != "" {
		return c, nil
	}
	return actor.APIKey, nil
}

// CreateApiKey creates an API key for a robot account or external
// application (R10). The secret is in the response only: it is never
// stored, so an idempotent retry (same request_id) returns the original
// ApiKey with an empty secret.
func (s *Service) CreateApiKey(ctx context.Context, actor Actor, req *directoryv1.CreateApiKeyRequest) (*directoryv1.CreateApiKeyResponse, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	// The key holds only what both its principal and its creator hold
	// (C4), so creating one grants nobody anything: no R17 check here.
	secret, err := credential.NewAPIKey()
	if err != nil {
		return nil, err
	}
	resp := &directoryv1.CreateApiKeyResponse{}
	var replayed bool
	_, err = s.update(ctx, actor, func(t *txn) error {
		var err error
		replayed, err = t.idempotent(req.GetRequestId(), req, resp, func() error {
			owner, err := apiKeyOwner(t, parent)
			if err != nil {
				return err
			}
			in := req.GetApiKey()
			if exp := in.GetExpireTime(); exp != nil {
				if err := exp.CheckValid(); err != nil {
					return fieldError("api_key.expire_time", "invalid timestamp: %v", err)
				}
				if !exp.AsTime().After(t.Now) {
					return fieldError("api_key.expire_time", "must be in the future")
				}
			}
			creator, err := keyCreator(t, actor, parent)
			if err != nil {
				return err
			}
			k := &directoryv1.ApiKey{
				Name:        parent + apiKeysCollection + apiKeyID(t.Now),
				DisplayName: in.GetDisplayName(),
				Prefix:      secret.Prefix,
				ExpireTime:  in.GetExpireTime(),
				CreateTime:  t.Timestamp(),
				Creator:     creator,
			}
			if err := mustNotExist(t, k.GetName()); err != nil {
				return err
			}
			if err := t.Put(creatorIndexKey(k), nil); err != nil {
				return err
			}
			side, err := json.Marshal(apiKeySecret{Hash: secret.Hash})
			if err != nil {
				return err
			}
			if err := t.Put([]byte(secretPrefix+k.GetName()), side); err != nil {
				return err
			}
			if err := t.Put([]byte(apiKeyIndex+secret.Hash), []byte(k.GetName())); err != nil {
				return err
			}
			if err := t.putAPIKey(k); err != nil {
				return err
			}
			if err := t.created(TypeAPIKeyCreated, k, fmt.Sprintf("API key %s (%s…) was created for %s.", k.GetDisplayName(), k.GetPrefix(), owner)); err != nil {
				return err
			}
			// The response remembered for retries carries no secret.
			proto.Reset(resp)
			resp.ApiKey = k
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	if !replayed {
		resp.Secret = secret.Secret
	}
	return resp, nil
}

// ListApiKeys lists a principal's API keys, newest first, without secrets;
// revoked keys only with show_revoked.
func (s *Service) ListApiKeys(ctx context.Context, actor Actor, req *directoryv1.ListApiKeysRequest) (*directoryv1.ListApiKeysResponse, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	show := req.GetShowRevoked()
	fp := pagetoken.Fingerprint("ListApiKeys", parent, strconv.FormatBool(show))
	resp := &directoryv1.ListApiKeysResponse{}
	_, err := s.view(ctx, func(tx store.ReadTx) error {
		if _, err := apiKeyOwner(tx, parent); err != nil {
			return err
		}
		var err error
		resp.ApiKeys, resp.NextPageToken, err = listPage(tx, parent+apiKeysCollection, req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.ApiKey { return &directoryv1.ApiKey{} },
			func(k *directoryv1.ApiKey) (bool, error) { return show || k.GetRevokeTime() == nil, nil })
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// RevokeApiKey revokes an API key: it sets revoke_time and removes the
// lookup index entry, so the secret stops working at once, and revokes the
// keys it created (C4). The record stays for audit. Revoking a revoked key
// returns it unchanged.
func (s *Service) RevokeApiKey(ctx context.Context, actor Actor, req *directoryv1.RevokeApiKeyRequest) (*directoryv1.ApiKey, error) {
	name := req.GetName()
	if err := actor.visible(name); err != nil {
		return nil, err
	}
	var out *directoryv1.ApiKey
	_, err := s.update(ctx, actor, func(t *txn) error {
		k := &directoryv1.ApiKey{}
		if err := get(t, name, k); err != nil {
			return err
		}
		if k.GetRevokeTime() != nil {
			out = k
			return nil
		}
		owner, err := apiKeyOwner(t, parentOf(name))
		if err != nil {
			return err
		}
		out = k
		return t.revokeKey(k, owner, fmt.Sprintf("API key %s (%s…) of %s was revoked.", k.GetDisplayName(), k.GetPrefix(), owner))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LookupAPIKey finds the API key whose secret is secret, for
// VerifyCredential (R10). It returns the key's parent principal (a robot
// account or external application) and the key. An unknown secret (or one
// of a revoked key, whose index entry is gone) fails with
// ErrInvalidCredentials; an expired key with ErrAPIKeyRevoked. A successful
// lookup refreshes last_used_time when it is older than a minute, in a
// separate small transaction without event.
func (s *Service) LookupAPIKey(ctx context.Context, secret string) (principal string, key *directoryv1.ApiKey, err error) {
	if !credential.LooksLikeAPIKey(secret) {
		return "", nil, errorf(ErrInvalidCredentials, "invalid API key")
	}
	hash := credential.HashAPIKey(secret)
	_, err = s.view(ctx, func(tx store.ReadTx) error {
		principal, key, err = checkAPIKey(tx, hash, s.clock())
		return err
	})
	if err != nil {
		return "", nil, err
	}
	if last := key.GetLastUsedTime(); last != nil && s.clock().Sub(last.AsTime()) < apiKeyTouchInterval {
		return principal, key, nil
	}
	_, err = s.update(ctx, Actor{}, func(t *txn) error {
		p, k, err := checkAPIKey(t, hash, t.Now)
		if err != nil {
			return err
		}
		if last := k.GetLastUsedTime(); last == nil || t.Now.Sub(last.AsTime()) >= apiKeyTouchInterval {
			k.LastUsedTime = t.Timestamp()
			if err := t.putAPIKey(k); err != nil {
				return err
			}
		}
		principal, key = p, k
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return principal, key, nil
}

// checkAPIKey reads the key indexed by hash and checks it is usable at now.
func checkAPIKey(tx store.ReadTx, hash string, now time.Time) (string, *directoryv1.ApiKey, error) {
	unknown := errorf(ErrInvalidCredentials, "invalid API key")
	b, err := tx.Get([]byte(apiKeyIndex + hash))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, unknown
	}
	if err != nil {
		return "", nil, err
	}
	name := string(b)
	k := &directoryv1.ApiKey{}
	if err := get(tx, name, k); err != nil {
		if errors.Is(err, ErrNotFound) {
			return "", nil, unknown
		}
		return "", nil, err
	}
	if k.GetRevokeTime() != nil {
		return "", nil, errorf(ErrAPIKeyRevoked, "API key %s (%s…) was revoked", k.GetDisplayName(), k.GetPrefix())
	}
	if exp := k.GetExpireTime(); exp != nil && !exp.AsTime().After(now) {
		return "", nil, errorf(ErrAPIKeyRevoked, "API key %s (%s…) expired at %s", k.GetDisplayName(), k.GetPrefix(), exp.AsTime().UTC().Format(time.RFC3339))
	}
	principal := parentOf(name)
	if ok, err := exists(tx, principal); err != nil {
		return "", nil, err
	} else if !ok {
		return "", nil, unknown
	}
	if err := creatorActive(tx, k); err != nil {
		return "", nil, err
	}
	return principal, k, nil
}

// creatorActive fails with ErrAPIKeyRevoked when the user who (directly,
// or through the keys that created k) created k is deactivated, or when
// one of those keys is revoked: such a key is suspended (C4). Access
// management denies it everything as well; refusing it here stops the
// directory's own "authenticated" methods too.
func creatorActive(tx store.ReadTx, key *directoryv1.ApiKey) error {
	k := key
	for range maxCreatorChain {
		c := k.GetCreator()
		switch {
		case !strings.HasPrefix(c, "organizations/"):
			return nil // a service, or no creator recorded
		case !strings.Contains(c, apiKeysCollection):
			u := &directoryv1.User{}
			if err := get(tx, c, u); errors.Is(err, ErrNotFound) || (err == nil && u.GetState() != directoryv1.User_STATE_ACTIVE) {
				return errorf(ErrAPIKeyRevoked, "API key %s (%s…) is suspended: the account that created it is not active", key.GetDisplayName(), key.GetPrefix())
			} else if err != nil {
				return err
			}
			return nil
		default: // another API key
			next := &directoryv1.ApiKey{}
			if err := get(tx, c, next); errors.Is(err, ErrNotFound) || (err == nil && next.GetRevokeTime() != nil) {
				return errorf(ErrAPIKeyRevoked, "API key %s (%s…) is suspended: the API key that created it is no longer valid", key.GetDisplayName(), key.GetPrefix())
			} else if err != nil {
				return err
			}
			k = next
		}
	}
	return errorf(ErrAPIKeyRevoked, "API key %s (%s…) has too long a chain of creators", key.GetDisplayName(), key.GetPrefix())
}

// migrateAPIKeyCreators records the creator of the live keys made before
// keys recorded one (C4), once per store: the actor of the key's
// TypeAPIKeyCreated event, which the log keeps. Each such key gets a
// TypeAPIKeyUpdated event, so that access management learns whose rights
// limit it instead of denying a key it never heard of (a robot's keys must
// not silently stop working). New calls it before the service serves.
func (s *Service) migrateAPIKeyCreators(ctx context.Context) error {
	done := false
	if _, err := s.view(ctx, func(tx store.ReadTx) error {
		_, err := tx.Get([]byte(apiKeyCreatorsMigrated))
		done = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}); err != nil || done {
		return err
	}
	creators := map[string]string{}
	for after := uint64(0); ; {
		evs, err := s.log.Read(ctx, after, 1000)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if ev.GetType() == TypeAPIKeyCreated {
				creators[ev.GetResource()] = ev.GetAudit().GetActor()
			}
			after = ev.GetSequence()
		}
		if len(evs) < 1000 {
			break
		}
	}
	_, err := s.update(ctx, Actor{Name: "services/directory", DisplayName: "directory"}, func(t *txn) error {
		var legacy []*directoryv1.ApiKey
		prefix := recordPrefix + "organizations/"
		err := t.Scan([]byte(prefix), nil, func(k, v []byte) (bool, error) {
			name := string(k[len(recordPrefix):])
			if !isAPIKeyName(name) {
				return true, nil
			}
			key := &directoryv1.ApiKey{}
			if err := proto.Unmarshal(v, key); err != nil {
				return false, err
			}
			if key.GetCreator() == "" && key.GetRevokeTime() == nil && creators[name] != "" {
				legacy = append(legacy, key)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		for _, k := range legacy {
			owner, err := apiKeyOwner(t, parentOf(k.GetName()))
			if err != nil {
				return err
			}
			k.Creator = creators[k.GetName()]
			if err := t.Put(creatorIndexKey(k), nil); err != nil {
				return err
			}
			if err := t.putAPIKey(k); err != nil {
				return err
			}
			if err := t.updated(TypeAPIKeyUpdated, k, fmt.Sprintf("API key %s (%s…) of %s now records its creator, %s: it holds what both hold.",
				k.GetDisplayName(), k.GetPrefix(), owner, k.GetCreator())); err != nil {
				return err
			}
		}
		return t.Put([]byte(apiKeyCreatorsMigrated), nil)
	})
	return err
}

// isAPIKeyName reports whether name is
// "organizations/{o}/(robotAccounts|externalApps)/{p}/apiKeys/{k}".
func isAPIKeyName(name string) bool {
	segs := strings.Split(name, "/")
	return len(segs) == 6 && segs[0] == "organizations" && (segs[2] == "robotAccounts" || segs[2] == "externalApps") && segs[4] == "apiKeys"
}
