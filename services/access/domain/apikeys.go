package domain

// API keys (contract C4): a call made with an API key has the rights of
// the key's principal AND of its creator, evaluated at the time of the
// call. Access follows the directory's directory.api_key.* events and
// keeps each live key's principal and creator in its store (under "dir/k/")
// and in the model, which answers Check for a key name as principal.
// Actors calling with a key are named by the key (the server's actorOf),
// so every decision access takes for them — its own permission rules, the
// delegation limits and escalation checks of R17 — is the key's.

import (
	"context"
	"fmt"
	"strings"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/store"
	"steward.dev/services/access/authorizer"
)

// apiKeysCollection separates a key's principal from its ID in its name.
const apiKeysCollection = "/apiKeys/"

// dirAPIKey is a stored API key (its name is the key).
type dirAPIKey struct {
	// Principal is the robot account or external application.
	Principal string `json:"principal"`
	// Creator is who made the key: a user or another key; "" when a
	// Steward service did (no creator limits the key then).
	Creator string `json:"creator,omitempty"`
}

// KeyPrincipal returns the principal of the API key named name
// ("organizations/o/robotAccounts/r/apiKeys/k" -> ".../robotAccounts/r"),
// or "" when name is not an API key's name.
func KeyPrincipal(name string) string {
	principal, id, ok := strings.Cut(name, apiKeysCollection)
	if !ok || id == "" || strings.Contains(id, "/") || !strings.HasPrefix(principal, "organizations/") ||
		(!strings.Contains(principal, "/robotAccounts/") && !strings.Contains(principal, "/externalApps/")) {
		return ""
	}
	return principal
}

// SpeaksFor reports whether the actor is principal, or an API key of it.
func (a Actor) SpeaksFor(principal string) bool {
	return a.Name == principal || (principal != "" && KeyPrincipal(a.Name) == principal)
}

// decodeAPIKey decodes a directory.api_key.created, .updated, .revoked or
// .deleted event into f: a created or updated key is put with its
// principal and creator (the event's actor for a created key without a
// recorded creator), a revoked or deleted one is dropped.
func (f *directoryFact) decodeAPIKey(ev *eventlogv1.Event) error {
	k := &directoryv1.ApiKey{}
	if err := decodeEvent(ev, k); err != nil {
		return err
	}
	name := k.GetName()
	principal := KeyPrincipal(name)
	if principal == "" {
		return fmt.Errorf("domain: directory event %d (%s) names no API key", ev.GetSequence(), ev.GetType())
	}
	f.key = authorizer.APIKey{ID: name, Principal: principal}
	if f.typ == directoryv1.EventType_EVENT_TYPE_API_KEY_REVOKED || f.typ == directoryv1.EventType_EVENT_TYPE_API_KEY_DELETED || k.GetRevokeTime() != nil {
		f.op = factDeleteAPIKey
		return nil
	}
	creator := k.GetCreator()
	if creator == "" && f.typ == directoryv1.EventType_EVENT_TYPE_API_KEY_CREATED {
		creator = ev.GetAudit().GetActor()
	}
	f.op, f.key.Creator = factPutAPIKey, limitingCreator(creator)
	return nil
}

// putAPIKey stores the live key k and, after the commit, puts it in the
// model.
func (t *txn) putAPIKey(k authorizer.APIKey) error {
	if err := putJSON(t.Tx, dirAPIKeyPrefix+k.ID, dirAPIKey{Principal: k.Principal, Creator: k.Creator}); err != nil {
		return err
	}
	t.onCommitApply(directoryFact{op: factPutAPIKey, key: k})
	return nil
}

// deleteAPIKey drops the key name and, after the commit, takes it out of
// the model.
func (t *txn) deleteAPIKey(name string) error {
	if err := t.Delete([]byte(dirAPIKeyPrefix + name)); err != nil {
		return err
	}
	t.onCommitApply(directoryFact{op: factDeleteAPIKey, key: authorizer.APIKey{ID: name}})
	return nil
}

// limitingCreator returns the creator that limits a key: a principal or
// key of an organization; "" for a Steward service (services/...) or the
// system, which are not principals of the model.
func limitingCreator(creator string) string {
	if !strings.HasPrefix(creator, "organizations/") {
		return ""
	}
	return creator
}

// loadAPIKeys puts the stored API keys in the model (New calls it at
// startup).
func (s *Service) loadAPIKeys(ctx context.Context) error {
	return s.view(ctx, func(tx store.ReadTx) error {
		return tx.Scan([]byte(dirAPIKeyPrefix), nil, func(k, v []byte) (bool, error) {
			key, err := storedAPIKey(k, v)
			if err == nil {
				err = s.model.UpsertAPIKey(key)
			}
			return err == nil, err
		})
	})
}
