package domain

// Non-human principals (R6): robots, the robot accounts they run as, and
// external applications. API keys of robot accounts and external
// applications are in apikeys.go.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
	"steward.dev/pkg/store"
)

// Collections of the non-human principals under an organization.
const (
	robotsCollection        = "/robots/"
	robotAccountsCollection = "/robotAccounts/"
	externalAppsCollection  = "/externalApps/"
)

// Updatable fields (AIP-134) of the non-human principals.
var (
	robotUpdatable        = []string{"display_name", "machine_name", "description"}
	robotAccountUpdatable = []string{"display_name", "description"}
	externalAppUpdatable  = []string{"display_name", "description"}
)

// GetRobot reads a robot (R6).
func (s *Service) GetRobot(ctx context.Context, actor Actor, req *directoryv1.GetRobotRequest) (*directoryv1.Robot, error) {
	return getPrincipalRecord(ctx, s, actor, req.GetName(), &directoryv1.Robot{})
}

// ListRobots lists an organization's robots by name; query keeps those whose
// display or machine name contains it, ignoring case.
func (s *Service) ListRobots(ctx context.Context, actor Actor, req *directoryv1.ListRobotsRequest) (*directoryv1.ListRobotsResponse, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	q := strings.ToLower(req.GetQuery())
	fp := pagetoken.Fingerprint("ListRobots", parent, q)
	resp := &directoryv1.ListRobotsResponse{}
	seq, err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		resp.Robots, resp.NextPageToken, err = listPage(tx, parent+robotsCollection, req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.Robot { return &directoryv1.Robot{} },
			func(r *directoryv1.Robot) (bool, error) {
				return q == "" || strings.Contains(strings.ToLower(r.GetDisplayName()), q) ||
					strings.Contains(strings.ToLower(r.GetMachineName()), q), nil
			})
		return err
	})
	if err != nil {
		return nil, err
	}
	resp.Sequence = seq
	return resp, nil
}

// CreateRobot registers a robot and creates its robot account in the same
// transaction (R6). The account has the robot's ID and display name; the
// robot-account event is the one access management grants the Robot role
// from. Idempotent with request_id.
func (s *Service) CreateRobot(ctx context.Context, actor Actor, req *directoryv1.CreateRobotRequest) (*directoryv1.Robot, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	resp := &directoryv1.Robot{}
	_, err := s.update(ctx, actor, func(t *txn) error {
		_, err := t.idempotent(req.GetRequestId(), req, resp, func() error {
			if err := requirePrincipalParent(t, parent); err != nil {
				return err
			}
			id := req.GetRobotId()
			if id == "" {
				id = newID()
			}
			in := req.GetRobot()
			name := parent + robotsCollection + id
			account := parent + robotAccountsCollection + id
			r := &directoryv1.Robot{
				Name:         name,
				DisplayName:  in.GetDisplayName(),
				MachineName:  in.GetMachineName(),
				Description:  in.GetDescription(),
				RobotAccount: account,
				CreateTime:   t.ts(),
				UpdateTime:   t.ts(),
			}
			ra := &directoryv1.RobotAccount{
				Name:        account,
				DisplayName: in.GetDisplayName(),
				Robot:       name,
				CreateTime:  t.ts(),
				UpdateTime:  t.ts(),
			}
			if err := t.insertPrincipal(r, TypeRobotCreated, fmt.Sprintf("Robot %s (machine %s) was created.", r.GetDisplayName(), r.GetMachineName())); err != nil {
				return err
			}
			if err := t.insertPrincipal(ra, TypeRobotAccountCreated, fmt.Sprintf("Robot account %s was created for robot %s.", ra.GetDisplayName(), r.GetDisplayName())); err != nil {
				return err
			}
			fillPrincipal(resp, r)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// UpdateRobot changes a robot's display_name, machine_name or description
// (FieldMask, etag). The robot account keeps its own display name.
func (s *Service) UpdateRobot(ctx context.Context, actor Actor, req *directoryv1.UpdateRobotRequest) (*directoryv1.Robot, error) {
	return updatePrincipal(ctx, s, actor, req.GetRobot(), req.GetUpdateMask().GetPaths(), principalUpdate{
		kind: "Robot", field: "robot", typ: TypeRobotUpdated,
		allowed: robotUpdatable, required: []string{"display_name", "machine_name"},
	}, func() *directoryv1.Robot { return &directoryv1.Robot{} })
}

// DeleteRobot deletes a robot together with its robot account and the
// account's API keys, emitting an event for each.
func (s *Service) DeleteRobot(ctx context.Context, actor Actor, req *directoryv1.DeleteRobotRequest) (*emptypb.Empty, error) {
	name := req.GetName()
	if err := actor.visible(name); err != nil {
		return nil, err
	}
	_, err := s.update(ctx, actor, func(t *txn) error {
		r := &directoryv1.Robot{}
		if err := get(t, name, r); err != nil {
			return err
		}
		if err := checkEtag(r, req.GetEtag()); err != nil {
			return err
		}
		if account := r.GetRobotAccount(); account != "" {
			ra := &directoryv1.RobotAccount{}
			err := get(t, account, ra)
			switch {
			case err == nil:
				if err := t.deleteRobotAccount(ra, fmt.Sprintf("Robot account %s was deleted with robot %s.", ra.GetDisplayName(), r.GetDisplayName())); err != nil {
					return err
				}
			case !principalNotFound(err):
				return err
			}
		}
		if err := t.del(name); err != nil {
			return err
		}
		return t.deleted(TypeRobotDeleted, r, fmt.Sprintf("Robot %s (machine %s) was deleted.", r.GetDisplayName(), r.GetMachineName()))
	})
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// GetRobotAccount reads a robot account (R6).
func (s *Service) GetRobotAccount(ctx context.Context, actor Actor, req *directoryv1.GetRobotAccountRequest) (*directoryv1.RobotAccount, error) {
	return getPrincipalRecord(ctx, s, actor, req.GetName(), &directoryv1.RobotAccount{})
}

// ListRobotAccounts lists an organization's robot accounts by name; query
// keeps those whose display name contains it, ignoring case.
func (s *Service) ListRobotAccounts(ctx context.Context, actor Actor, req *directoryv1.ListRobotAccountsRequest) (*directoryv1.ListRobotAccountsResponse, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	q := strings.ToLower(req.GetQuery())
	fp := pagetoken.Fingerprint("ListRobotAccounts", parent, q)
	resp := &directoryv1.ListRobotAccountsResponse{}
	seq, err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		resp.RobotAccounts, resp.NextPageToken, err = listPage(tx, parent+robotAccountsCollection, req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.RobotAccount { return &directoryv1.RobotAccount{} },
			func(ra *directoryv1.RobotAccount) (bool, error) {
				return q == "" || strings.Contains(strings.ToLower(ra.GetDisplayName()), q), nil
			})
		return err
	})
	if err != nil {
		return nil, err
	}
	resp.Sequence = seq
	return resp, nil
}

// CreateRobotAccount creates a stand-alone robot account (R6); its creation
// event is the one access management grants the Robot role from.
// Idempotent with request_id.
func (s *Service) CreateRobotAccount(ctx context.Context, actor Actor, req *directoryv1.CreateRobotAccountRequest) (*directoryv1.RobotAccount, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	resp := &directoryv1.RobotAccount{}
	_, err := s.update(ctx, actor, func(t *txn) error {
		_, err := t.idempotent(req.GetRequestId(), req, resp, func() error {
			if err := requirePrincipalParent(t, parent); err != nil {
				return err
			}
			id := req.GetRobotAccountId()
			if id == "" {
				id = newID()
			}
			in := req.GetRobotAccount()
			ra := &directoryv1.RobotAccount{
				Name:        parent + robotAccountsCollection + id,
				DisplayName: in.GetDisplayName(),
				Description: in.GetDescription(),
				CreateTime:  t.ts(),
				UpdateTime:  t.ts(),
			}
			if err := t.insertPrincipal(ra, TypeRobotAccountCreated, fmt.Sprintf("Robot account %s was created.", ra.GetDisplayName())); err != nil {
				return err
			}
			fillPrincipal(resp, ra)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// UpdateRobotAccount changes a robot account's display_name or description
// (FieldMask, etag).
func (s *Service) UpdateRobotAccount(ctx context.Context, actor Actor, req *directoryv1.UpdateRobotAccountRequest) (*directoryv1.RobotAccount, error) {
	return updatePrincipal(ctx, s, actor, req.GetRobotAccount(), req.GetUpdateMask().GetPaths(), principalUpdate{
		kind: "Robot account", field: "robot_account", typ: TypeRobotAccountUpdated,
		allowed: robotAccountUpdatable, required: []string{"display_name"},
	}, func() *directoryv1.RobotAccount { return &directoryv1.RobotAccount{} })
}

// DeleteRobotAccount deletes a stand-alone robot account and its API keys;
// an account that belongs to a robot fails with ErrRobotAccountBound (delete
// the robot instead).
func (s *Service) DeleteRobotAccount(ctx context.Context, actor Actor, req *directoryv1.DeleteRobotAccountRequest) (*emptypb.Empty, error) {
	name := req.GetName()
	if err := actor.visible(name); err != nil {
		return nil, err
	}
	_, err := s.update(ctx, actor, func(t *txn) error {
		ra := &directoryv1.RobotAccount{}
		if err := get(t, name, ra); err != nil {
			return err
		}
		if err := checkEtag(ra, req.GetEtag()); err != nil {
			return err
		}
		if robot := ra.GetRobot(); robot != "" {
			return errorf(ErrRobotAccountBound, "robot account %s belongs to robot %s; delete the robot instead", name, robot)
		}
		return t.deleteRobotAccount(ra, fmt.Sprintf("Robot account %s was deleted.", ra.GetDisplayName()))
	})
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// deleteRobotAccount deletes ra and its API keys, with their events.
func (t *txn) deleteRobotAccount(ra *directoryv1.RobotAccount, message string) error {
	if err := t.deleteAPIKeys(ra.GetName()); err != nil {
		return err
	}
	if err := t.del(ra.GetName()); err != nil {
		return err
	}
	return t.deleted(TypeRobotAccountDeleted, ra, message)
}

// GetExternalApp reads an external application (R6).
func (s *Service) GetExternalApp(ctx context.Context, actor Actor, req *directoryv1.GetExternalAppRequest) (*directoryv1.ExternalApp, error) {
	return getPrincipalRecord(ctx, s, actor, req.GetName(), &directoryv1.ExternalApp{})
}

// ListExternalApps lists an organization's external applications by name.
func (s *Service) ListExternalApps(ctx context.Context, actor Actor, req *directoryv1.ListExternalAppsRequest) (*directoryv1.ListExternalAppsResponse, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	fp := pagetoken.Fingerprint("ListExternalApps", parent)
	resp := &directoryv1.ListExternalAppsResponse{}
	seq, err := s.view(ctx, func(tx store.ReadTx) error {
		var err error
		resp.ExternalApps, resp.NextPageToken, err = listPage(tx, parent+externalAppsCollection, req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.ExternalApp { return &directoryv1.ExternalApp{} },
			func(*directoryv1.ExternalApp) (bool, error) { return true, nil })
		return err
	})
	if err != nil {
		return nil, err
	}
	resp.Sequence = seq
	return resp, nil
}

// CreateExternalApp registers an external application (R6). Idempotent with
// request_id.
func (s *Service) CreateExternalApp(ctx context.Context, actor Actor, req *directoryv1.CreateExternalAppRequest) (*directoryv1.ExternalApp, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	resp := &directoryv1.ExternalApp{}
	_, err := s.update(ctx, actor, func(t *txn) error {
		_, err := t.idempotent(req.GetRequestId(), req, resp, func() error {
			if err := requirePrincipalParent(t, parent); err != nil {
				return err
			}
			id := req.GetExternalAppId()
			if id == "" {
				id = newID()
			}
			in := req.GetExternalApp()
			app := &directoryv1.ExternalApp{
				Name:        parent + externalAppsCollection + id,
				DisplayName: in.GetDisplayName(),
				Description: in.GetDescription(),
				CreateTime:  t.ts(),
				UpdateTime:  t.ts(),
			}
			if err := t.insertPrincipal(app, TypeExternalAppCreated, fmt.Sprintf("External application %s was created.", app.GetDisplayName())); err != nil {
				return err
			}
			fillPrincipal(resp, app)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// UpdateExternalApp changes an external application's display_name or
// description (FieldMask, etag).
func (s *Service) UpdateExternalApp(ctx context.Context, actor Actor, req *directoryv1.UpdateExternalAppRequest) (*directoryv1.ExternalApp, error) {
	return updatePrincipal(ctx, s, actor, req.GetExternalApp(), req.GetUpdateMask().GetPaths(), principalUpdate{
		kind: "External application", field: "external_app", typ: TypeExternalAppUpdated,
		allowed: externalAppUpdatable, required: []string{"display_name"},
	}, func() *directoryv1.ExternalApp { return &directoryv1.ExternalApp{} })
}

// DeleteExternalApp deletes an external application and its API keys.
func (s *Service) DeleteExternalApp(ctx context.Context, actor Actor, req *directoryv1.DeleteExternalAppRequest) (*emptypb.Empty, error) {
	name := req.GetName()
	if err := actor.visible(name); err != nil {
		return nil, err
	}
	_, err := s.update(ctx, actor, func(t *txn) error {
		app := &directoryv1.ExternalApp{}
		if err := get(t, name, app); err != nil {
			return err
		}
		if err := checkEtag(app, req.GetEtag()); err != nil {
			return err
		}
		if err := t.deleteAPIKeys(name); err != nil {
			return err
		}
		if err := t.del(name); err != nil {
			return err
		}
		return t.deleted(TypeExternalAppDeleted, app, fmt.Sprintf("External application %s was deleted.", app.GetDisplayName()))
	})
	if err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// getPrincipalRecord reads the record named name into m, after checking the actor
// may see it.
func getPrincipalRecord[T proto.Message](ctx context.Context, s *Service, actor Actor, name string, m T) (T, error) {
	var zero T
	if err := actor.visible(name); err != nil {
		return zero, err
	}
	if _, err := s.view(ctx, func(tx store.ReadTx) error { return get(tx, name, m) }); err != nil {
		return zero, err
	}
	return m, nil
}

// requirePrincipalParent fails with ErrNotFound unless a record named name exists
// (the parent of a create).
func requirePrincipalParent(tx store.ReadTx, name string) error {
	ok, err := exists(tx, name)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(ErrNotFound, "%s not found", name)
	}
	return nil
}

// insertPrincipal stores the new record rec, refusing a taken name, and emits its
// creation event.
func (t *txn) insertPrincipal(rec proto.Message, typ, message string) error {
	name := getStringField(rec, "name")
	if ok, err := exists(t, name); err != nil {
		return err
	} else if ok {
		return errorf(ErrAlreadyExists, "%s already exists", name)
	}
	if err := t.put(rec); err != nil {
		return err
	}
	return t.created(typ, rec, message)
}

// fillPrincipal makes dst a copy of src (dst may hold a previous attempt's values
// when the store retries a transaction).
func fillPrincipal(dst, src proto.Message) {
	proto.Reset(dst)
	proto.Merge(dst, src)
}

// principalUpdate describes an AIP-134 update of a record with name, etag,
// display_name and update_time fields.
type principalUpdate struct {
	// kind names the record in audit messages, e.g. "Robot".
	kind string
	// field is the record's field in the request, for field errors.
	field string
	// typ is the event type of the update.
	typ string
	// allowed are the updatable fields.
	allowed []string
	// required are string fields that cannot be cleared.
	required []string
}

// updatePrincipal applies in's masked fields to the stored record of in's
// name, checking the etag. An update that changes nothing returns the
// record as it is, without an event.
func updatePrincipal[T proto.Message](ctx context.Context, s *Service, actor Actor, in T, paths []string, spec principalUpdate, newT func() T) (T, error) {
	var zero T
	name := getStringField(in, "name")
	if err := actor.visible(name); err != nil {
		return zero, err
	}
	var out T
	_, err := s.update(ctx, actor, func(t *txn) error {
		cur := newT()
		if err := get(t, name, cur); err != nil {
			return err
		}
		next := proto.Clone(cur).(T)
		if err := applyMask(next, in, paths, spec.allowed...); err != nil {
			return err
		}
		for _, f := range spec.required {
			if getStringField(next, f) == "" {
				return fieldError(spec.field+"."+f, "%s is required", f)
			}
		}
		if err := checkEtag(cur, getStringField(in, "etag")); err != nil {
			return err
		}
		if proto.Equal(next, cur) {
			out = cur
			return nil
		}
		records.SetTime(next, "update_time", t.now)
		if err := t.put(next); err != nil {
			return err
		}
		out = next
		return t.updated(spec.typ, next, fmt.Sprintf("%s %s was updated.", spec.kind, getStringField(next, "display_name")))
	})
	if err != nil {
		return zero, err
	}
	return out, nil
}

// principalNotFound reports whether err is ErrNotFound.
func principalNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
