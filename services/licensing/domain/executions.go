package domain

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/change"
	"steward.dev/pkg/store"
)

// AcquireExecution starts a job under user's execution lock (R25): when
// the concurrent execution of the user's robot license is disabled (its
// LicenseAssignment's setting), a second running job is
// CONCURRENT_EXECUTION_DISABLED naming the first. The lock holds until
// ReleaseExecution or the execution TTL. Idempotent with request_id. Who
// may act for user is the caller's check.
func (s *Service) AcquireExecution(ctx context.Context, actor Actor, req *licensingv1.AcquireExecutionRequest) (*licensingv1.Execution, error) {
	if err := s.checkParent(actor, req.GetParent(), "", req.GetUser()); err != nil {
		return nil, err
	}
	return create(ctx, s, actor, []string{req.GetUser()}, req.GetRequestId(), req, &licensingv1.Execution{}, func(t *txn) (*licensingv1.Execution, error) {
		return t.acquireExecution(req, s.executionTTL)
	})
}

// acquireExecution is AcquireExecution in t.
func (t *txn) acquireExecution(req *licensingv1.AcquireExecutionRequest, ttl time.Duration) (*licensingv1.Execution, error) {
	user := req.GetUser()
	if err := t.checkMember(user); err != nil {
		return nil, err
	}
	disabled, err := t.concurrentExecutionDisabled(user)
	if err != nil {
		return nil, err
	}
	if disabled {
		running, err := t.runningExecution(user)
		if err != nil {
			return nil, err
		}
		if running != nil {
			return nil, errorWith(ErrConcurrentExecutionDisabled, map[string]string{"execution": running.GetName(), "job": running.GetJob()},
				"%s may run one job at a time and %q (%s) runs until %s at the latest", user, running.GetJob(), running.GetName(), formatTime(running.GetExpireTime()))
		}
	}
	e := &licensingv1.Execution{
		Name:       req.GetParent() + "/executions/" + change.NewID(),
		User:       user,
		Job:        req.GetJob(),
		CreateTime: t.Timestamp(),
		ExpireTime: timestamppb.New(t.Now.Add(ttl)),
	}
	if err := store.PutProto(t, []byte(executionPrefix+e.GetName()), e); err != nil {
		return nil, err
	}
	if err := t.Put([]byte(executionOfUser+user+"|"+e.GetName()), nil); err != nil {
		return nil, err
	}
	if err := t.Put(timeKey(executionExpiry, e.GetExpireTime().AsTime(), e.GetName()), nil); err != nil {
		return nil, err
	}
	return e, t.Emit(TypeExecutionAcquired, eventlogv1.Operation_OPERATION_CREATE, e.GetName(), e,
		fmt.Sprintf("Job %q of %s started.", e.GetJob(), user))
}

// concurrentExecutionDisabled reports whether user's robot license
// disables concurrent execution.
func (t *txn) concurrentExecutionDisabled(user string) (bool, error) {
	name, err := t.Get([]byte(memberKey(user, licensingv1.Product_PRODUCT_ROBOT)))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	a := &licensingv1.LicenseAssignment{}
	if err := get(t, assignmentPrefix+string(name), string(name), a); err != nil {
		return false, err
	}
	return a.GetConcurrentExecutionDisabled(), nil
}

// runningExecution returns user's running execution, nil if none; those
// past their expiry are released first.
func (t *txn) runningExecution(user string) (*licensingv1.Execution, error) {
	var running *licensingv1.Execution
	var expired []*licensingv1.Execution
	err := t.Scan([]byte(executionOfUser+user+"|"), nil, func(k, _ []byte) (bool, error) {
		name := string(k[len(executionOfUser+user+"|"):])
		e := &licensingv1.Execution{}
		if err := get(t, executionPrefix+name, name, e); err != nil {
			return false, err
		}
		if !t.Now.Before(e.GetExpireTime().AsTime()) {
			expired = append(expired, e)
		} else if running == nil {
			running = e
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	for _, e := range expired {
		if err := t.endExecution(e, "its lock expired"); err != nil {
			return nil, err
		}
	}
	return running, nil
}

// endExecution deletes e and emits its event; why completes the message.
func (t *txn) endExecution(e *licensingv1.Execution, why string) error {
	for _, k := range [][]byte{[]byte(executionPrefix + e.GetName()), []byte(executionOfUser + e.GetUser() + "|" + e.GetName()), timeKey(executionExpiry, e.GetExpireTime().AsTime(), e.GetName())} {
		if err := t.Delete(k); err != nil {
			return err
		}
	}
	return t.Emit(TypeExecutionReleased, eventlogv1.Operation_OPERATION_DELETE, e.GetName(), e,
		fmt.Sprintf("Job %q of %s ended: %s.", e.GetJob(), e.GetUser(), why))
}

// GetExecution reads a running execution.
func (s *Service) GetExecution(ctx context.Context, actor Actor, name string) (*licensingv1.Execution, error) {
	if err := actor.Visible(name); err != nil {
		return nil, err
	}
	e := &licensingv1.Execution{}
	if err := s.view(ctx, func(tx store.ReadTx) error { return get(tx, executionPrefix+name, name, e) }); err != nil {
		return nil, err
	}
	return e, nil
}

// ReleaseExecution ends a job's execution lock (R25). Who may release is
// the caller's check.
func (s *Service) ReleaseExecution(ctx context.Context, actor Actor, name string) error {
	if err := actor.Visible(name); err != nil {
		return err
	}
	return s.update(ctx, actor, func(t *txn) error {
		e := &licensingv1.Execution{}
		if err := get(t, executionPrefix+name, name, e); err != nil {
			return err
		}
		return t.endExecution(e, "it was released")
	})
}

// endExecutionsOf ends every execution of user; why completes the
// messages.
func (t *txn) endExecutionsOf(user, why string) error {
	var names []string
	err := t.Scan([]byte(executionOfUser+user+"|"), nil, func(k, _ []byte) (bool, error) {
		names = append(names, strings.TrimPrefix(string(k), executionOfUser+user+"|"))
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, name := range names {
		e := &licensingv1.Execution{}
		if err := get(t, executionPrefix+name, name, e); err != nil {
			return err
		}
		if err := t.endExecution(e, why); err != nil {
			return err
		}
	}
	return nil
}

// expireExecutions releases at most limit executions past their expiry and
// returns how many.
func (t *txn) expireExecutions(limit int) (int, error) {
	due, err := t.dueKeys(executionExpiry, t.Now.Add(time.Nanosecond), limit)
	if err != nil {
		return 0, err
	}
	for _, name := range due {
		e := &licensingv1.Execution{}
		if err := get(t, executionPrefix+name, name, e); err != nil {
			return 0, err
		}
		if err := t.endExecution(e, "its lock expired"); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}
