package authorizer

import (
	"fmt"
	"strings"
)

// APIKey is an API key of a robot account or external application. Check
// answers for a key with what both its principal and its creator hold at
// the time of the check (contract C4): a key never does more than the
// account it belongs to, nor more than whoever made it.
type APIKey struct {
	// ID is the key's resource name, e.g.
	// "organizations/o1/robotAccounts/r1/apiKeys/k1"; it must not be the
	// ID of a principal.
	ID string
	// Principal is the ID of the robot account or external application
	// the key belongs to.
	Principal string
	// Creator is the ID of who made the key: a user (or any principal), or
	// another API key, whose own limits then apply too. Empty means no
	// creator limits the key (a key a Steward service made on its own).
	Creator string
}

// maxKeyChain bounds how many keys Check follows from a key to the
// principal that created the first of them. Chains never loop (a creator
// exists before what it creates); the bound guards against bad input.
const maxKeyChain = 32

// apiKeyRec is a stored APIKey.
type apiKeyRec struct {
	principal, creator string
}

// UpsertAPIKey adds or replaces an API key.
func (m *Model) UpsertAPIKey(k APIKey) error {
	if k.ID == "" || k.Principal == "" {
		return fmt.Errorf("%w: API key ID and principal", ErrMissingField)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[strings.Clone(k.ID)] = apiKeyRec{principal: strings.Clone(k.Principal), creator: strings.Clone(k.Creator)}
	return nil
}

// DeleteAPIKey removes an API key (revoked or deleted): it holds nothing
// from then on, and neither do the keys it created. Deleting an unknown key
// is a no-op.
func (m *Model) DeleteAPIKey(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, id)
}

// LookupAPIKey returns the API key id, if the model holds it.
func (m *Model) LookupAPIKey(id string) (APIKey, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.keys[id]
	if !ok {
		return APIKey{}, false
	}
	return APIKey{ID: id, Principal: k.principal, Creator: k.creator}, true
}

// checkKeyLocked is Check for the API key id: the principal's decision
// when it allows and the creator (a principal, or a key followed up to
// maxKeyChain deep) allows too; otherwise the denying decision, with
// CreatorDenied set when the creator denies. m.mu must be held.
func (m *Model) checkKeyLocked(id string, k apiKeyRec, permission, scope string, depth int) Decision {
	d := m.checkPrincipalLocked(k.principal, permission, scope, false)
	d.Key = id
	if !d.Allowed || k.creator == "" {
		return d
	}
	var c Decision
	if ck, ok := m.keys[k.creator]; ok {
		if depth >= maxKeyChain {
			c = Decision{Principal: k.creator, Permission: permission, Scope: scope, Denial: DenyUnknownPrincipal}
		} else {
			c = m.checkKeyLocked(k.creator, ck, permission, scope, depth+1)
		}
	} else {
		c = m.checkPrincipalLocked(k.creator, permission, scope, false)
	}
	if c.Allowed {
		return d
	}
	c.Key, c.CreatorDenied = id, true
	return c
}
