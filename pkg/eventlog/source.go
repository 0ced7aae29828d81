package eventlog

import (
	"context"
	"errors"
	"io"
	"math"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
)

// Source is a log a Consumer follows: a local *Log or a remote one through
// NewClientSource.
type Source interface {
	// Watch calls fn with every event after sub.From, in order, then tails
	// new ones, until ctx is done, the source fails or fn returns an error
	// (returned unchanged). A position below the retention horizon fails with
	// an error matching ErrFellBehind; one of another log, or past the head,
	// with an error matching ErrReset.
	Watch(ctx context.Context, sub Subscription, fn func(*eventlogv1.Event) error) error
	// HeadPosition returns the log's identity and newest sequence.
	HeadPosition(ctx context.Context) (Position, error)
	// Acknowledge records a durable consumer's position (see
	// Log.Acknowledge).
	Acknowledge(ctx context.Context, consumer string, pos Position) error
}

var (
	_ Source = (*Log)(nil)
	_ Source = (*ClientSource)(nil)
)

// ClientSource is the Source of a remote service's log, read through its
// EventLogService.
type ClientSource struct {
	client eventlogv1.EventLogServiceClient
}

// NewClientSource returns the Source served by client.
func NewClientSource(client eventlogv1.EventLogServiceClient) *ClientSource {
	return &ClientSource{client: client}
}

// errStreamEnded is returned when a server ends a Watch stream without an
// error, which a conforming server never does.
var errStreamEnded = errors.New("eventlog: watch stream ended by the server")

// Watch implements Source over one EventLogService.Watch stream. A
// FAILED_PRECONDITION status with reason EVENTLOG_FELL_BEHIND becomes a
// *FellBehindError, one with EVENTLOG_RESET a *ResetError; other failures are
// returned as the status errors they are. fn's error ends the stream and is
// returned unchanged.
func (c *ClientSource) Watch(ctx context.Context, sub Subscription, fn func(*eventlogv1.Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.client.Watch(ctx, &eventlogv1.WatchRequest{
		AfterSequence: sub.From.Sequence,
		LogId:         sub.From.LogID,
		Consumer:      sub.Consumer,
		Durable:       sub.Durable,
	})
	if err != nil {
		return fromStatus(err)
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return errStreamEnded
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fromStatus(err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// HeadPosition implements Source with a ListEvents call that reads no events.
func (c *ClientSource) HeadPosition(ctx context.Context) (Position, error) {
	resp, err := c.client.ListEvents(ctx, &eventlogv1.ListEventsRequest{AfterSequence: math.MaxUint64, PageSize: 1})
	if err != nil {
		return Position{}, fromStatus(err)
	}
	return Position{LogID: resp.GetLogId(), Sequence: resp.GetHeadSequence()}, nil
}

// Acknowledge implements Source with AcknowledgeEvents.
func (c *ClientSource) Acknowledge(ctx context.Context, consumer string, pos Position) error {
	_, err := c.client.AcknowledgeEvents(ctx, &eventlogv1.AcknowledgeEventsRequest{Consumer: consumer, LogId: pos.LogID, Sequence: pos.Sequence})
	return fromStatus(err)
}

// HeadPosition implements Source: the log's identity (created if need be) and
// its newest sequence.
func (l *Log) HeadPosition(ctx context.Context) (Position, error) {
	id, err := l.ID(ctx)
	if err != nil {
		return Position{}, err
	}
	head, err := l.Head(ctx)
	if err != nil {
		return Position{}, err
	}
	return Position{LogID: id, Sequence: head}, nil
}
