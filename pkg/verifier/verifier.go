// Package verifier is the authn.Verifier of every Steward service but the
// directory: it asks the directory's VerifyCredential who a bearer
// credential (access token or API key) speaks for, and caches each answer
// until the directory's cache_until, so revocation and deactivation take
// effect within that bound.
package verifier

import (
	"container/list"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/authn"
)

// DefaultMaxEntries bounds the cache unless configured.
const DefaultMaxEntries = 10_000

// Verifier verifies credentials through the directory, with a cache.
type Verifier struct {
	client directoryv1.DirectoryServiceClient
	now    func() time.Time
	max    int

	mu      sync.Mutex
	entries map[[32]byte]*list.Element
	lru     list.List // of *entry, most recent first
}

type entry struct {
	key       [32]byte
	principal authn.Principal
	until     time.Time
}

// New returns a Verifier calling the directory over conn, which must carry
// the calling service's credential (VerifyCredential is internal).
func New(conn grpc.ClientConnInterface) *Verifier {
	return &Verifier{
		client:  directoryv1.NewDirectoryServiceClient(conn),
		now:     time.Now,
		max:     DefaultMaxEntries,
		entries: make(map[[32]byte]*list.Element),
	}
}

// Verify returns the principal credential speaks for. A credential the
// directory refuses matches authn.ErrUnauthenticated; a directory that
// cannot be reached is another error (the call then fails as Unavailable
// rather than Unauthenticated).
func (v *Verifier) Verify(ctx context.Context, credential string) (authn.Principal, error) {
	key := sha256.Sum256([]byte(credential))
	now := v.now()
	if p, ok := v.cached(key, now); ok {
		return p, nil
	}
	req := &directoryv1.VerifyCredentialRequest{}
	if strings.HasPrefix(credential, "stwk_") {
		req.Credential = &directoryv1.VerifyCredentialRequest_ApiKey{ApiKey: credential}
	} else {
		req.Credential = &directoryv1.VerifyCredentialRequest_AccessToken{AccessToken: credential}
	}
	resp, err := v.client.VerifyCredential(ctx, req)
	if err != nil {
		switch status.Code(err) {
		case codes.Unauthenticated, codes.FailedPrecondition, codes.InvalidArgument, codes.NotFound:
			return authn.Principal{}, fmt.Errorf("%w: %s", authn.ErrUnauthenticated, status.Convert(err).Message())
		}
		return authn.Principal{}, status.Errorf(codes.Unavailable, "verifying the credential with the directory: %s", status.Convert(err).Message())
	}
	pr := resp.GetPrincipal()
	p := authn.Principal{
		Kind:         authn.KindOf(pr.GetName()),
		Name:         pr.GetName(),
		Organization: pr.GetOrganization(),
		SessionID:    pr.GetSessionId(),
		DisplayName:  pr.GetDisplayName(),
	}
	if until := resp.GetCacheUntil().AsTime(); until.After(now) {
		v.store(key, p, until)
	}
	return p, nil
}

func (v *Verifier) cached(key [32]byte, now time.Time) (authn.Principal, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	el, ok := v.entries[key]
	if !ok {
		return authn.Principal{}, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.until) {
		v.lru.Remove(el)
		delete(v.entries, key)
		return authn.Principal{}, false
	}
	v.lru.MoveToFront(el)
	return e.principal, true
}

func (v *Verifier) store(key [32]byte, p authn.Principal, until time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if el, ok := v.entries[key]; ok {
		v.lru.Remove(el)
	}
	v.entries[key] = v.lru.PushFront(&entry{key: key, principal: p, until: until})
	for v.lru.Len() > v.max {
		oldest := v.lru.Back()
		v.lru.Remove(oldest)
		delete(v.entries, oldest.Value.(*entry).key)
	}
}
