package domain

// Startup: New fills the authorization model with what the store holds
// (custom roles, the directory facts, role assignments) and creates the
// Mirror over it. On issue 13's `large` dataset — a million assignments,
// 550,000 memberships — this is access's cold start, so the model sizes its
// tables from counts of the stored records, and the records are decoded
// without allocating (the fields the model needs, read in place from the
// store's pages) and handed to the model's bulk Loader, under one hold of
// its lock.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/store"
	"steward.dev/services/access/authorizer"
)

// load fills the model with the stored custom roles, directory facts and
// role assignments, and creates the Mirror over it. A goroutine counts the
// assignments meanwhile, in a read transaction of its own: on a store whose
// assignment records lie on pages all over the file, that scan is mostly
// page faults (2 s for a million assignments), which it takes while the
// directory facts load, and the model sizes its tables from the count.
func (s *Service) load(ctx context.Context) error {
	s.dir = &directoryState{mirror: newMirror(s.model)}
	type count struct {
		n   int
		err error
	}
	counted := make(chan count, 1)
	go func() {
		var c count
		c.err = s.view(ctx, func(tx store.ReadTx) (err error) {
			c.n, err = countKeys(tx, assignmentPrefix)
			return err
		})
		counted <- c
	}()
	err := s.loadRoles(ctx)
	if err == nil {
		err = s.loadDirectory(ctx)
	}
	c := <-counted
	if err != nil {
		return err
	}
	if c.err != nil {
		return c.err
	}
	return s.loadAssignments(ctx, c.n)
}

// loadRoles puts the stored custom roles in the model.
func (s *Service) loadRoles(ctx context.Context) error {
	return s.view(ctx, func(tx store.ReadTx) error {
		return tx.Scan([]byte(rolePrefix), nil, func(_, v []byte) (bool, error) {
			r := &accessv1.Role{}
			if err := proto.Unmarshal(v, r); err != nil {
				return false, err
			}
			return true, s.model.UpsertRole(catalogueRole(r))
		})
	})
}

// loadAssignments puts the stored role assignments, about n of them, in
// the model.
func (s *Service) loadAssignments(ctx context.Context, n int) error {
	builtIn := []byte(BuiltInRolePrefix)
	return s.view(ctx, func(tx store.ReadTx) error {
		return s.model.Load(func(l *authorizer.Loader) error {
			l.Grow(authorizer.Sizes{Assignments: n})
			return tx.Scan([]byte(assignmentPrefix), nil, func(k, v []byte) (bool, error) {
				a, err := decodeModelFields(v)
				if err != nil {
					return false, fmt.Errorf("domain: stored assignment %q: %w", k, err)
				}
				// The record's name is its key's (a record stored before
				// names left the value has it twice, the same).
				return true, l.UpsertAssignment(k[len(assignmentPrefix):], a.principal, bytes.TrimPrefix(a.role, builtIn), a.scope, a.builtIn)
			})
		})
	})
}

// countKeys returns the number of keys with prefix.
func countKeys(tx store.ReadTx, prefix string) (int, error) {
	n := 0
	err := tx.Scan([]byte(prefix), nil, func(_, _ []byte) (bool, error) {
		n++
		return true, nil
	})
	return n, err
}

// storedAssignment is what the model needs of a stored
// accessv1.RoleAssignment besides its name (the key's); the slices alias
// the record's bytes.
type storedAssignment struct {
	principal, role, scope []byte
	builtIn                bool
}

// The numbers of the accessv1.RoleAssignment fields decodeModelFields reads.
var (
	raFields    = (&accessv1.RoleAssignment{}).ProtoReflect().Descriptor().Fields()
	raPrincipal = raFields.ByName("principal").Number()
	raRole      = raFields.ByName("role").Number()
	raScope     = raFields.ByName("scope").Number()
	raBuiltIn   = raFields.ByName("built_in").Number()
)

// decodeModelFields reads the fields the model needs from b, an encoded
// accessv1.RoleAssignment, without allocating; it skips the others (the
// creator, the creation time: a full proto.Unmarshal allocates each of
// them). Like proto.Unmarshal, the last occurrence of a field wins; unlike
// it, strings are not checked to be UTF-8 (the store wrote them from
// messages that were).
func decodeModelFields(b []byte) (storedAssignment, error) {
	var a storedAssignment
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return a, protowire.ParseError(n)
		}
		b = b[n:]
		var field *[]byte
		switch num {
		case raPrincipal:
			field = &a.principal
		case raRole:
			field = &a.role
		case raScope:
			field = &a.scope
		}
		switch {
		case field != nil && typ == protowire.BytesType:
			*field, n = protowire.ConsumeBytes(b)
		case num == raBuiltIn && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			a.builtIn = v != 0
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return a, protowire.ParseError(n)
		}
		b = b[n:]
	}
	return a, nil
}

// loadDirectory fills the model with the directory facts stored under
// "dir/", and the Mirror with the robots. As when the feed applies them,
// facts the model refuses (a malformed scope name) are skipped.
func (s *Service) loadDirectory(ctx context.Context) error {
	return s.view(ctx, func(tx store.ReadTx) error {
		principals, err := countKeys(tx, dirPrincipalPrefix)
		if err != nil {
			return err
		}
		scopes, err := countKeys(tx, dirScopePrefix)
		if err != nil {
			return err
		}
		err = s.model.Load(func(l *authorizer.Loader) error {
			l.Grow(authorizer.Sizes{Principals: principals, Scopes: scopes})
			err := tx.Scan([]byte(dirScopePrefix), nil, func(k, v []byte) (bool, error) {
				sc, err := storedScope(k, v)
				if err != nil {
					return false, err
				}
				_ = l.UpsertScope(sc)
				return true, nil
			})
			if err != nil {
				return err
			}
			err = tx.Scan([]byte(dirPrincipalPrefix), nil, func(k, v []byte) (bool, error) {
				p, err := storedPrincipal(k, v)
				if err != nil {
					return false, err
				}
				_ = l.UpsertPrincipal(p)
				return true, nil
			})
			if err != nil {
				return err
			}
			return tx.Scan([]byte(dirMemberPrefix), nil, func(k, _ []byte) (bool, error) {
				group, member, ok := bytes.Cut(k[len(dirMemberPrefix):], []byte("|"))
				if !ok {
					return false, fmt.Errorf("domain: malformed membership key %q", k)
				}
				_ = l.UpsertMembership(group, member)
				return true, nil
			})
		})
		if err != nil {
			return err
		}
		return tx.Scan([]byte(dirRobotPrefix), nil, func(k, v []byte) (bool, error) {
			r, err := storedRobot(k, v)
			if err != nil {
				return false, err
			}
			s.Mirror().putRobot(r)
			return true, nil
		})
	})
}

// The directory facts as stored (k is the full key, v its value), decoded
// as the model and the Mirror hold them: by the load, and by a replica
// applying another's commits (replica.go).

func storedScope(k, v []byte) (authorizer.Scope, error) {
	var sc dirScope
	if err := json.Unmarshal(v, &sc); err != nil {
		return authorizer.Scope{}, fmt.Errorf("domain: stored scope %q: %w", k, err)
	}
	return modelScope(MirrorScope{Name: string(k[len(dirScopePrefix):]), DisplayName: sc.DisplayName, ServiceType: sc.ServiceType}), nil
}

func storedPrincipal(k, v []byte) (authorizer.Principal, error) {
	var p dirPrincipal
	if err := json.Unmarshal(v, &p); err != nil {
		return authorizer.Principal{}, fmt.Errorf("domain: stored principal %q: %w", k, err)
	}
	return modelPrincipal(MirrorPrincipal{
		Name: string(k[len(dirPrincipalPrefix):]), Kind: p.Kind, DisplayName: p.DisplayName, Email: p.Email,
		Organization: p.Organization, Active: p.Active, Everyone: p.Everyone,
	}), nil
}

func storedRobot(k, v []byte) (MirrorRobot, error) {
	var r dirRobot
	if err := json.Unmarshal(v, &r); err != nil {
		return MirrorRobot{}, fmt.Errorf("domain: stored robot %q: %w", k, err)
	}
	return MirrorRobot{Name: string(k[len(dirRobotPrefix):]), DisplayName: r.DisplayName, MachineName: r.MachineName}, nil
}

func storedAPIKey(k, v []byte) (authorizer.APIKey, error) {
	var rec dirAPIKey
	if err := json.Unmarshal(v, &rec); err != nil {
		return authorizer.APIKey{}, fmt.Errorf("domain: stored API key %q: %w", k, err)
	}
	return authorizer.APIKey{ID: string(k[len(dirAPIKeyPrefix):]), Principal: rec.Principal, Creator: rec.Creator}, nil
}
