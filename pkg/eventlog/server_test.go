package eventlog_test

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
)

func TestGRPCWatchResumeExactlyOnce(t *testing.T) {
	verifyNoLeaks(t)
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{BatchSize: 16})
	src := eventlog.NewClientSource(serve(t, l))
	checkResumeExactlyOnce(t, s, l, src)
}

func TestGRPCListEventsPaging(t *testing.T) {
	verifyNoLeaks(t)
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{Retention: eventlog.Retention{MaxEvents: 20}})
	client := serve(t, l)
	ctx := context.Background()
	appendN(t, s, l, 25)
	if _, err := l.Compact(ctx); err != nil { // horizon 5
		t.Fatal(err)
	}

	var seqs []uint64
	req := &eventlogv1.ListEventsRequest{AfterSequence: 7, PageSize: 8}
	pages := 0
	for {
		resp, err := client.ListEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if resp.GetHeadSequence() != 25 || resp.GetHorizonSequence() != 5 {
			t.Errorf("head, horizon = %d, %d; want 25, 5", resp.GetHeadSequence(), resp.GetHorizonSequence())
		}
		for _, ev := range resp.GetEvents() {
			seqs = append(seqs, ev.GetSequence())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req = &eventlogv1.ListEventsRequest{PageToken: resp.GetNextPageToken(), PageSize: 8}
	}
	checkGapFree(t, seqs, 8, 25)
	if pages != 3 { // 8..15, 16..23, 24..25
		t.Errorf("%d pages, want 3", pages)
	}

	// A page ending exactly at the head has no next token.
	resp, err := client.ListEvents(ctx, &eventlogv1.ListEventsRequest{AfterSequence: 20})
	if err != nil || len(resp.GetEvents()) != 5 || resp.GetNextPageToken() != "" {
		t.Fatalf("ListEvents(after 20) = %d events, token %q, %v", len(resp.GetEvents()), resp.GetNextPageToken(), err)
	}
	// Below the horizon history is listed from what is retained.
	resp, err = client.ListEvents(ctx, &eventlogv1.ListEventsRequest{PageSize: 1})
	if err != nil || resp.GetEvents()[0].GetSequence() != 6 {
		t.Fatalf("ListEvents(after 0) = %v, %v; want event 6", resp, err)
	}

	for _, tok := range []string{"garbage!", "AQ", eventlogTokenOfOtherSource(t, l)} {
		_, err := client.ListEvents(ctx, &eventlogv1.ListEventsRequest{PageToken: tok})
		if status.Code(err) != codes.InvalidArgument || errorReason(err) != eventlog.ReasonInvalidPageToken {
			t.Errorf("ListEvents(token %q) = %v, want InvalidArgument %s", tok, err, eventlog.ReasonInvalidPageToken)
		}
	}
}

// eventlogTokenOfOtherSource returns a page token that a log of another source
// issued.
func eventlogTokenOfOtherSource(t *testing.T, l *eventlog.Log) string {
	t.Helper()
	s := openStore(t, "other")
	other, err := eventlog.New(s, "access", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, other, 2)
	resp, err := eventlog.NewServer(other).ListEvents(context.Background(), &eventlogv1.ListEventsRequest{PageSize: 1})
	if err != nil || resp.GetNextPageToken() == "" {
		t.Fatalf("ListEvents on access = %v, %v", resp, err)
	}
	return resp.GetNextPageToken()
}

func errorReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func TestGRPCWatchFellBehind(t *testing.T) {
	verifyNoLeaks(t)
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{Retention: eventlog.Retention{MaxEvents: 5}})
	client := serve(t, l)
	ctx := context.Background()
	appendN(t, s, l, 20)
	if _, err := l.Compact(ctx); err != nil {
		t.Fatal(err)
	}

	// On the wire: FAILED_PRECONDITION with reason EVENTLOG_FELL_BEHIND.
	stream, err := client.Watch(ctx, &eventlogv1.WatchRequest{AfterSequence: 3})
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.FailedPrecondition || errorReason(err) != eventlog.ReasonFellBehind {
		t.Fatalf("Recv = %v, want FailedPrecondition %s", err, eventlog.ReasonFellBehind)
	}
	// Through the client Source: the typed error again.
	err = eventlog.NewClientSource(client).Watch(ctx, eventlog.Subscription{From: eventlog.Position{Sequence: 3}}, func(*eventlogv1.Event) error { return nil })
	checkFellBehind(t, err, 3, 15)
}

func TestGRPCWatchClosedIsUnavailable(t *testing.T) {
	verifyNoLeaks(t)
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{})
	src := eventlog.NewClientSource(serve(t, l))
	appendN(t, s, l, 1)
	done := make(chan error, 1)
	got := make(chan struct{})
	go func() {
		done <- src.Watch(context.Background(), eventlog.Subscription{From: eventlog.Position{Sequence: 0}}, func(*eventlogv1.Event) error { close(got); return nil })
	}()
	<-got
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; status.Code(err) != codes.Unavailable || errors.Is(err, eventlog.ErrFellBehind) {
		t.Fatalf("Watch after Close = %v, want Unavailable", err)
	}
}
