package eventlog

import (
	"context"
	"errors"
	"io"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
)

// Source is a log a Consumer follows: a local *Log or a remote one through
// NewClientSource.
type Source interface {
	// Watch calls fn with every event after the sequence after, in order, then
	// tails new ones, until ctx is done, the source fails or fn returns an
	// error (returned unchanged). A cursor below the retention horizon fails
	// with an error matching ErrFellBehind.
	Watch(ctx context.Context, after uint64, fn func(*eventlogv1.Event) error) error
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
// *FellBehindError; other failures are returned as the status errors they are.
// fn's error ends the stream and is returned unchanged.
func (c *ClientSource) Watch(ctx context.Context, after uint64, fn func(*eventlogv1.Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.client.Watch(ctx, &eventlogv1.WatchRequest{AfterSequence: after})
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
