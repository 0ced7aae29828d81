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

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/pagetoken"
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
	return getRecord(ctx, s, actor, req.GetName(), &directoryv1.Robot{})
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
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		var err error
		resp.Robots, resp.NextPageToken, err = listPage(tx, parent+robotsCollection, req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.Robot { return &directoryv1.Robot{} },
			func(r *directoryv1.Robot) (bool, error) {
				return q == "" || strings.Contains(strings.ToLower(r.GetDisplayName()), q) ||
					strings.Contains(strings.ToLower(r.GetMachineName()), q), nil
			})
		return err
	})
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
			if err := mustExist(t, parent); err != nil {
				return err
			}
			id := idOrNew(req.GetRobotId())
			in := req.GetRobot()
			name := parent + robotsCollection + id
			account := parent + robotAccountsCollection + id
			r := &directoryv1.Robot{
				Name:         name,
				DisplayName:  in.GetDisplayName(),
				MachineName:  in.GetMachineName(),
				Description:  in.GetDescription(),
				RobotAccount: account,
				CreateTime:   t.Timestamp(),
				UpdateTime:   t.Timestamp(),
			}
			ra := &directoryv1.RobotAccount{
				Name:        account,
				DisplayName: in.GetDisplayName(),
				Robot:       name,
				CreateTime:  t.Timestamp(),
				UpdateTime:  t.Timestamp(),
			}
			if err := t.insert(r, TypeRobotCreated, fmt.Sprintf("Robot %s (machine %s) was created.", r.GetDisplayName(), r.GetMachineName())); err != nil {
				return err
			}
			if err := t.insert(ra, TypeRobotAccountCreated, fmt.Sprintf("Robot account %s was created for robot %s.", ra.GetDisplayName(), r.GetDisplayName())); err != nil {
				return err
			}
			// resp may hold an earlier attempt's robot when the store
			// retries the transaction.
			proto.Reset(resp)
			proto.Merge(resp, r)
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
func (s *Service) DeleteRobot(ctx context.Context, actor Actor, req *directoryv1.DeleteRobotRequest) error {
	return deleteRecord(ctx, s, actor, req.GetName(), req.GetEtag(), &directoryv1.Robot{}, func(t *txn, r *directoryv1.Robot) error {
		if account := r.GetRobotAccount(); account != "" {
			ra := &directoryv1.RobotAccount{}
			err := get(t, account, ra)
			switch {
			case err == nil:
				if err := t.deleteRobotAccount(ra, fmt.Sprintf("Robot account %s was deleted with robot %s.", ra.GetDisplayName(), r.GetDisplayName())); err != nil {
					return err
				}
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		return t.remove(r, TypeRobotDeleted, fmt.Sprintf("Robot %s (machine %s) was deleted.", r.GetDisplayName(), r.GetMachineName()))
	})
}

// GetRobotAccount reads a robot account (R6).
func (s *Service) GetRobotAccount(ctx context.Context, actor Actor, req *directoryv1.GetRobotAccountRequest) (*directoryv1.RobotAccount, error) {
	return getRecord(ctx, s, actor, req.GetName(), &directoryv1.RobotAccount{})
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
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		var err error
		resp.RobotAccounts, resp.NextPageToken, err = listPage(tx, parent+robotAccountsCollection, req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.RobotAccount { return &directoryv1.RobotAccount{} },
			func(ra *directoryv1.RobotAccount) (bool, error) {
				return q == "" || strings.Contains(strings.ToLower(ra.GetDisplayName()), q), nil
			})
		return err
	})
}

// CreateRobotAccount creates a stand-alone robot account (R6); its creation
// event is the one access management grants the Robot role from.
// Idempotent with request_id.
func (s *Service) CreateRobotAccount(ctx context.Context, actor Actor, req *directoryv1.CreateRobotAccountRequest) (*directoryv1.RobotAccount, error) {
	in := req.GetRobotAccount()
	return createRecord(ctx, s, actor, &directoryv1.RobotAccount{}, recordCreate[*directoryv1.RobotAccount]{
		req: req, requestID: req.GetRequestId(),
		parent: req.GetParent(), collection: robotAccountsCollection, id: req.GetRobotAccountId(),
		build: func(t *txn, name string) *directoryv1.RobotAccount {
			return &directoryv1.RobotAccount{
				Name:        name,
				DisplayName: in.GetDisplayName(),
				Description: in.GetDescription(),
				CreateTime:  t.Timestamp(),
				UpdateTime:  t.Timestamp(),
			}
		},
		typ: TypeRobotAccountCreated,
		message: func(ra *directoryv1.RobotAccount) string {
			return fmt.Sprintf("Robot account %s was created.", ra.GetDisplayName())
		},
	})
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
func (s *Service) DeleteRobotAccount(ctx context.Context, actor Actor, req *directoryv1.DeleteRobotAccountRequest) error {
	return deleteRecord(ctx, s, actor, req.GetName(), req.GetEtag(), &directoryv1.RobotAccount{}, func(t *txn, ra *directoryv1.RobotAccount) error {
		if robot := ra.GetRobot(); robot != "" {
			return errorf(ErrRobotAccountBound, "robot account %s belongs to robot %s; delete the robot instead", ra.GetName(), robot)
		}
		return t.deleteRobotAccount(ra, fmt.Sprintf("Robot account %s was deleted.", ra.GetDisplayName()))
	})
}

// deleteRobotAccount deletes ra and its API keys, with their events.
func (t *txn) deleteRobotAccount(ra *directoryv1.RobotAccount, message string) error {
	if err := t.deleteAPIKeys(ra.GetName()); err != nil {
		return err
	}
	return t.remove(ra, TypeRobotAccountDeleted, message)
}

// GetExternalApp reads an external application (R6).
func (s *Service) GetExternalApp(ctx context.Context, actor Actor, req *directoryv1.GetExternalAppRequest) (*directoryv1.ExternalApp, error) {
	return getRecord(ctx, s, actor, req.GetName(), &directoryv1.ExternalApp{})
}

// ListExternalApps lists an organization's external applications by name.
func (s *Service) ListExternalApps(ctx context.Context, actor Actor, req *directoryv1.ListExternalAppsRequest) (*directoryv1.ListExternalAppsResponse, error) {
	parent := req.GetParent()
	if err := actor.visible(parent); err != nil {
		return nil, err
	}
	fp := pagetoken.Fingerprint("ListExternalApps", parent)
	resp := &directoryv1.ListExternalAppsResponse{}
	return listRecords(ctx, s, resp, func(tx store.ReadTx) error {
		var err error
		resp.ExternalApps, resp.NextPageToken, err = listPage(tx, parent+externalAppsCollection, req.GetPageToken(), req.GetPageSize(), fp,
			func() *directoryv1.ExternalApp { return &directoryv1.ExternalApp{} },
			func(*directoryv1.ExternalApp) (bool, error) { return true, nil })
		return err
	})
}

// CreateExternalApp registers an external application (R6). Idempotent with
// request_id.
func (s *Service) CreateExternalApp(ctx context.Context, actor Actor, req *directoryv1.CreateExternalAppRequest) (*directoryv1.ExternalApp, error) {
	in := req.GetExternalApp()
	return createRecord(ctx, s, actor, &directoryv1.ExternalApp{}, recordCreate[*directoryv1.ExternalApp]{
		req: req, requestID: req.GetRequestId(),
		parent: req.GetParent(), collection: externalAppsCollection, id: req.GetExternalAppId(),
		build: func(t *txn, name string) *directoryv1.ExternalApp {
			return &directoryv1.ExternalApp{
				Name:        name,
				DisplayName: in.GetDisplayName(),
				Description: in.GetDescription(),
				CreateTime:  t.Timestamp(),
				UpdateTime:  t.Timestamp(),
			}
		},
		typ: TypeExternalAppCreated,
		message: func(app *directoryv1.ExternalApp) string {
			return fmt.Sprintf("External application %s was created.", app.GetDisplayName())
		},
	})
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
func (s *Service) DeleteExternalApp(ctx context.Context, actor Actor, req *directoryv1.DeleteExternalAppRequest) error {
	return deleteRecord(ctx, s, actor, req.GetName(), req.GetEtag(), &directoryv1.ExternalApp{}, func(t *txn, app *directoryv1.ExternalApp) error {
		if err := t.deleteAPIKeys(app.GetName()); err != nil {
			return err
		}
		return t.remove(app, TypeExternalAppDeleted, fmt.Sprintf("External application %s was deleted.", app.GetDisplayName()))
	})
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
// name (updateRecord). Unlike other records, the fields are checked before
// the etag.
func updatePrincipal[T proto.Message](ctx context.Context, s *Service, actor Actor, in T, paths []string, spec principalUpdate, newT func() T) (T, error) {
	return updateRecord(ctx, s, actor, newT(), recordUpdate[T]{
		name: getStringField(in, "name"),
		edit: func(_ *txn, cur, next T) error {
			if err := applyMask(next, in, paths, spec.allowed...); err != nil {
				return err
			}
			for _, f := range spec.required {
				if getStringField(next, f) == "" {
					return fieldError(spec.field+"."+f, "%s is required", f)
				}
			}
			return checkEtag(cur, getStringField(in, "etag"))
		},
		typ: spec.typ,
		message: func(next T) string {
			return fmt.Sprintf("%s %s was updated.", spec.kind, getStringField(next, "display_name"))
		},
	})
}
