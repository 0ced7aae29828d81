package eventlog

import (
	"context"
	"encoding/binary"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/apierr"
	"steward.dev/pkg/pagetoken"
)

// Page sizes of ListEvents.
const (
	// DefaultPageSize is the ListEvents page size when the request gives none.
	DefaultPageSize = 100
	// MaxPageSize is the largest ListEvents page; larger requests are clamped.
	MaxPageSize = 1000
)

// ReasonInvalidPageToken is the ErrorInfo reason of a ListEvents page token
// that this log did not issue.
const ReasonInvalidPageToken = "INVALID_PAGE_TOKEN"

// Server implements steward.eventlog.v1.EventLogService over a Log.
type Server struct {
	eventlogv1.UnimplementedEventLogServiceServer
	log *Log
}

var _ eventlogv1.EventLogServiceServer = (*Server)(nil)

// NewServer returns the EventLogService of log.
func NewServer(log *Log) *Server { return &Server{log: log} }

// Register registers the EventLogService of log on s. Every service that keeps
// a log calls it, so every backend answers the shared contract.
func Register(s grpc.ServiceRegistrar, log *Log) {
	eventlogv1.RegisterEventLogServiceServer(s, NewServer(log))
}

// errorTable maps the package's errors to statuses; *FellBehindError carries
// its own status.
var errorTable = apierr.Table{
	{Err: ErrClosed, To: apierr.New(codes.Unavailable, "", "", "eventlog: log closed, reconnect", nil)},
}

// Watch implements EventLogServiceServer: it streams the events after
// after_sequence, then tails new ones until the client goes away or the log is
// closed (UNAVAILABLE). A cursor below the horizon fails with
// FAILED_PRECONDITION, reason EVENTLOG_FELL_BEHIND; one of another log (log_id)
// or past the head with reason EVENTLOG_RESET.
func (s *Server) Watch(req *eventlogv1.WatchRequest, stream grpc.ServerStreamingServer[eventlogv1.Event]) error {
	ctx := stream.Context()
	sub := Subscription{
		From:     Position{LogID: req.GetLogId(), Sequence: req.GetAfterSequence()},
		Consumer: req.GetConsumer(),
		Durable:  req.GetDurable(),
	}
	err := s.log.Watch(ctx, sub, stream.Send)
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	return errorTable.ToStatus(err)
}

// ListEvents implements EventLogServiceServer: one page of retained history
// after after_sequence (or after the position a page_token carries), with the
// head and horizon seen by the same read. Unlike Watch it does not fail below
// the horizon: a caller sees the gap as horizon_sequence > after_sequence.
func (s *Server) ListEvents(ctx context.Context, req *eventlogv1.ListEventsRequest) (*eventlogv1.ListEventsResponse, error) {
	after := req.GetAfterSequence()
	if tok := req.GetPageToken(); tok != "" {
		var err error
		if after, err = decodePageToken(s.log.source, tok); err != nil {
			return nil, apierr.InvalidArgument(ReasonInvalidPageToken, apierr.Domain, err.Error(),
				apierr.FieldViolation("page_token", err.Error())).GRPCStatus().Err()
		}
	}
	size := int(req.GetPageSize())
	switch {
	case size <= 0:
		size = DefaultPageSize
	case size > MaxPageSize:
		size = MaxPageSize
	}
	p, err := s.log.readPage(ctx, after, size)
	if err != nil {
		return nil, errorTable.ToStatus(err)
	}
	resp := &eventlogv1.ListEventsResponse{Events: p.events, HeadSequence: p.head, HorizonSequence: p.horizon, LogId: p.id}
	if n := len(p.events); n == size && p.events[n-1].GetSequence() < p.head {
		resp.NextPageToken = encodePageToken(s.log.source, p.events[n-1].GetSequence())
	}
	return resp, nil
}

// pageFingerprint binds ListEvents page tokens to this log's source, so a token
// from another service's log is refused.
func pageFingerprint(source string) uint64 { return pagetoken.Fingerprint("eventlog", source) }

// encodePageToken returns the opaque token of the page after seq in source's log.
func encodePageToken(source string, seq uint64) string {
	return pagetoken.Encode(binary.BigEndian.AppendUint64(nil, seq), pageFingerprint(source))
}

// decodePageToken returns the sequence a token of source's log carries.
func decodePageToken(source, tok string) (uint64, error) {
	b, err := pagetoken.Decode(tok, pageFingerprint(source))
	if err != nil || len(b) != 8 {
		return 0, pagetoken.ErrInvalid
	}
	return binary.BigEndian.Uint64(b), nil
}

// AcknowledgeEvents implements EventLogServiceServer: it records a durable
// consumer's position (see Log.Acknowledge).
func (s *Server) AcknowledgeEvents(ctx context.Context, req *eventlogv1.AcknowledgeEventsRequest) (*eventlogv1.AcknowledgeEventsResponse, error) {
	pos := Position{LogID: req.GetLogId(), Sequence: req.GetSequence()}
	if err := s.log.Acknowledge(ctx, req.GetConsumer(), pos); err != nil {
		return nil, errorTable.ToStatus(err)
	}
	return &eventlogv1.AcknowledgeEventsResponse{}, nil
}
