package eventlog_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
)

func TestNewValidates(t *testing.T) {
	s := openStore(t, "p")
	if _, err := eventlog.New(nil, "directory", eventlog.Options{}); err == nil {
		t.Error("New(nil store) succeeded")
	}
	if _, err := eventlog.New(s, "", eventlog.Options{}); err == nil {
		t.Error(`New(source "") succeeded`)
	}
}

func TestNewEvent(t *testing.T) {
	data := &eventlogv1.Event{Type: "some record"}
	ev, err := eventlog.NewEvent("directory.user.created", eventlogv1.Operation_OPERATION_CREATE, "organizations/o1/users/u1", data,
		&eventlogv1.AuditEnvelope{Actor: "organizations/o1/users/admin", Message: "User u1 was created.", Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS})
	if err != nil {
		t.Fatal(err)
	}
	wantData, err := anypb.New(data)
	if err != nil {
		t.Fatal(err)
	}
	want := &eventlogv1.Event{
		Type:         "directory.user.created",
		Resource:     "organizations/o1/users/u1",
		Organization: "organizations/o1",
		Operation:    eventlogv1.Operation_OPERATION_CREATE,
		Data:         wantData,
		Audit: &eventlogv1.AuditEnvelope{
			Actor:   "organizations/o1/users/admin",
			Action:  "directory.user.created",
			Message: "User u1 was created.",
			Outcome: eventlogv1.Outcome_OUTCOME_SUCCESS,
		},
	}
	if !proto.Equal(ev, want) {
		t.Fatalf("NewEvent = %v, want %v", ev, want)
	}

	// An attempt has no data; a resource outside organizations has none.
	ev, err = eventlog.NewEvent("directory.sign_in.failed", eventlogv1.Operation_OPERATION_UNSPECIFIED, "services/licensing", nil, &eventlogv1.AuditEnvelope{})
	if err != nil || ev.GetData() != nil || ev.GetOrganization() != "" || ev.GetAudit().GetAction() != "directory.sign_in.failed" {
		t.Fatalf("NewEvent without data = %v, %v", ev, err)
	}
}

func TestAppendConcurrentGapFree(t *testing.T) {
	verifyNoLeaks(t)
	s := openStore(t, "p")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l := newLog(t, s, eventlog.Options{Clock: func() time.Time { return now }})
	const writers, perWriter = 8, 50
	var wait []func()
	for range writers {
		wait = append(wait, appendInBackground(t, s, l, perWriter))
	}
	for _, w := range wait {
		w()
	}

	const total = writers * perWriter
	checkGapFree(t, readAll(t, l, 0), 1, total)
	head, err := l.Head(context.Background())
	if err != nil || head != total {
		t.Fatalf("Head = %d, %v; want %d", head, err, total)
	}
	evs, err := l.Read(context.Background(), 0, 1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Read = %v, %v", evs, err)
	}
	if ev := evs[0]; ev.GetSource() != "directory" || !ev.GetTime().AsTime().Equal(now) || ev.GetType() != "directory.user.created" {
		t.Errorf("event = %v; want source, time and type set", ev)
	}
}

func TestAppendRollbackAndSeveralPerTransaction(t *testing.T) {
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{})
	ctx := context.Background()
	errBoom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := l.Append(tx, testEvent(1)); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v", err)
	}
	var seqs []uint64
	err = s.Update(ctx, func(tx store.Tx) error {
		for i := range 3 {
			seq, err := l.Append(tx, testEvent(i))
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	checkGapFree(t, seqs, 1, 3)
	checkGapFree(t, readAll(t, l, 0), 1, 3)
	if _, err := l.Read(ctx, 3, 10); err != nil {
		t.Errorf("Read at head: %v", err)
	}
}

func TestWatchHistoryThenTail(t *testing.T) {
	verifyNoLeaks(t)
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{BatchSize: 4})
	appendN(t, s, l, 10)

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan uint64, 100)
	done := make(chan error, 1)
	go func() {
		done <- l.Watch(ctx, eventlog.Subscription{From: eventlog.Position{Sequence: 3}}, func(ev *eventlogv1.Event) error { got <- ev.GetSequence(); return nil })
	}()
	for want := uint64(4); want <= 10; want++ {
		if seq := <-got; seq != want {
			t.Fatalf("got %d, want %d", seq, want)
		}
	}
	for i := range 5 {
		appendOne(t, s, l, i)
		if seq, want := <-got, uint64(11+i); seq != want {
			t.Fatalf("tailed %d, want %d", seq, want)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch = %v, want context.Canceled", err)
	}
}

var errStop = errors.New("test: stop watching")

// checkResumeExactlyOnce appends total events concurrently while a watcher on
// src repeatedly disconnects at random points and resumes from the last
// sequence it saw; it must see 1..total exactly once, in order.
func checkResumeExactlyOnce(t *testing.T, s store.Store, l *eventlog.Log, src eventlog.Source) {
	t.Helper()
	const total = 300
	wait := appendInBackground(t, s, l, total)
	var seen []uint64
	var last uint64
	reconnects := 0
	for last < total {
		ctx, cancel := context.WithCancel(context.Background())
		stopAfter, n := 1+rand.IntN(40), 0
		err := src.Watch(ctx, eventlog.Subscription{From: eventlog.Position{Sequence: last}}, func(ev *eventlogv1.Event) error {
			seen = append(seen, ev.GetSequence())
			last = ev.GetSequence()
			if n++; n == stopAfter || last == total {
				cancel() // disconnect mid-stream
				return errStop
			}
			return nil
		})
		cancel()
		if !errors.Is(err, errStop) {
			t.Fatalf("Watch = %v, want errStop", err)
		}
		reconnects++
	}
	wait()
	checkGapFree(t, seen, 1, total)
	t.Logf("%d events over %d connections", total, reconnects)
}

func TestWatchResumeExactlyOnce(t *testing.T) {
	verifyNoLeaks(t)
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{BatchSize: 16})
	checkResumeExactlyOnce(t, s, l, l)
}

func TestWatchDoesNotPoll(t *testing.T) {
	verifyNoLeaks(t)
	s := &countingStore{Store: openStore(t, "p")}
	l := newLog(t, s, eventlog.Options{})
	appendN(t, s, l, 5)

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan uint64, 10)
	done := make(chan error, 1)
	go func() {
		done <- l.Watch(ctx, eventlog.Subscription{From: eventlog.Position{Sequence: 0}}, func(ev *eventlogv1.Event) error { got <- ev.GetSequence(); return nil })
	}()
	for range 5 {
		<-got
	}
	eventually(t, "the watcher to read history", func() bool { return s.views.Load() == 1 })
	time.Sleep(300 * time.Millisecond) // idle
	if n := s.views.Load(); n != 1 {
		t.Fatalf("an idle watcher ran %d read transactions, want 1", n)
	}
	appendOne(t, s, l, 6)
	if seq := <-got; seq != 6 {
		t.Fatalf("tailed %d, want 6", seq)
	}
	eventually(t, "the watcher to block again", func() bool { return s.views.Load() == 2 })
	time.Sleep(100 * time.Millisecond)
	if n := s.views.Load(); n != 2 {
		t.Fatalf("one commit cost %d read transactions, want 1", n-1)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch = %v", err)
	}
}

func TestWatchEndsOnClose(t *testing.T) {
	verifyNoLeaks(t)
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{})
	done := make(chan error, 1)
	go func() {
		done <- l.Watch(context.Background(), eventlog.Subscription{From: eventlog.Position{Sequence: 0}}, func(*eventlogv1.Event) error { return nil })
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Watch = %v, want ErrClosed", err)
	}
	if err := l.Watch(context.Background(), eventlog.Subscription{From: eventlog.Position{Sequence: 0}}, nil); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Watch after Close = %v, want ErrClosed", err)
	}
}

func TestWatchReturnsFnError(t *testing.T) {
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{})
	appendN(t, s, l, 3)
	calls := 0
	err := l.Watch(context.Background(), eventlog.Subscription{From: eventlog.Position{Sequence: 0}}, func(*eventlogv1.Event) error { calls++; return errStop })
	if !errors.Is(err, errStop) || calls != 1 {
		t.Fatalf("Watch = %v after %d calls, want errStop after 1", err, calls)
	}
}

// checkFellBehind fails unless err is a *FellBehindError with the horizon and
// the status FAILED_PRECONDITION / EVENTLOG_FELL_BEHIND.
func checkFellBehind(t *testing.T, err error, after, horizon uint64) {
	t.Helper()
	var fb *eventlog.FellBehindError
	if !errors.Is(err, eventlog.ErrFellBehind) || !errors.As(err, &fb) {
		t.Fatalf("err = %v, want a FellBehindError", err)
	}
	if fb.After != after || fb.Horizon != horizon || fb.Source != "directory" {
		t.Errorf("FellBehindError = %+v, want after %d, horizon %d, source directory", fb, after, horizon)
	}
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition {
		t.Errorf("code = %v, want FailedPrecondition", st.Code())
	}
	var reason string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.GetReason()
		}
	}
	if reason != eventlog.ReasonFellBehind {
		t.Errorf("reason = %q, want %q", reason, eventlog.ReasonFellBehind)
	}
}
