package domain

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
)

// snapshotBatch is how many records ExportSnapshot hands over at a time.
const snapshotBatch = 500

// snapshotRecordOf returns an empty record of the type stored under the
// resource name name, or nil for records a snapshot leaves out (account
// systems: their settings are the organization's own).
func snapshotRecordOf(name string) proto.Message {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return nil
	}
	j := strings.LastIndexByte(name[:i], '/')
	switch name[j+1 : i] {
	case "organizations":
		return &directoryv1.Organization{}
	case "tenants":
		return &directoryv1.Tenant{}
	case "services":
		return &directoryv1.Service{}
	case "folders":
		return &directoryv1.Folder{}
	case "projects":
		return &directoryv1.Project{}
	case "departments":
		return &directoryv1.Department{}
	case "users":
		return &directoryv1.User{}
	case "groups":
		return &directoryv1.Group{}
	case "robots":
		return &directoryv1.Robot{}
	case "robotAccounts":
		return &directoryv1.RobotAccount{}
	case "externalApps":
		return &directoryv1.ExternalApp{}
	case "apiKeys":
		return &directoryv1.ApiKey{}
	}
	return nil
}

// ExportSnapshot reads every record of the directory (never secrets nor
// account-system settings) and every group membership in one read
// transaction, and hands them to fn in batches, the first call with the
// event-log position the snapshot reflects. A follower that lost its place
// in the log rebuilds its copy from it. fn runs inside the read
// transaction: it must not write to the directory.
func (s *Service) ExportSnapshot(ctx context.Context, fn func(pos eventlog.Position, batch []proto.Message) error) error {
	return s.store.View(ctx, func(tx store.ReadTx) error {
		pos, err := eventlog.PositionTx(tx)
		if err != nil {
			return err
		}
		first := true
		var batch []proto.Message
		flush := func() error {
			if len(batch) == 0 && !first {
				return nil
			}
			err := fn(pos, batch)
			first, batch = false, nil
			return err
		}
		add := func(m proto.Message) error {
			batch = append(batch, m)
			if len(batch) < snapshotBatch {
				return nil
			}
			return flush()
		}
		err = tx.Scan([]byte(recordPrefix), nil, func(k, v []byte) (bool, error) {
			m := snapshotRecordOf(string(k[len(recordPrefix):]))
			if m == nil {
				return true, nil
			}
			if err := proto.Unmarshal(v, m); err != nil {
				return false, fmt.Errorf("domain: snapshot of %s: %w", k, err)
			}
			return true, add(m)
		})
		if err != nil {
			return err
		}
		err = tx.Scan([]byte(groupMembers), nil, func(k, v []byte) (bool, error) {
			m := &directoryv1.GroupMembership{}
			if err := proto.Unmarshal(v, m); err != nil {
				return false, fmt.Errorf("domain: snapshot of %s: %w", k, err)
			}
			return true, add(m)
		})
		if err != nil {
			return err
		}
		return flush()
	})
}
