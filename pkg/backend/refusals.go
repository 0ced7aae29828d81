package backend

// Refused calls become audit events (issue 12, R27): the server tells the
// backend of every refused call of a mutating method
// (grpcserver.Config.RecordRefusal); the backend queues it and one
// goroutine appends it to the service's own event log (or hands it to
// Config.RecordRefused), so that the refusal goes back to the caller at
// once.

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/authn"
	"steward.dev/pkg/grpcserver"
	"steward.dev/pkg/resourcename"
	"steward.dev/pkg/store"
	"steward.dev/pkg/tracing"
)

// DefaultRefusalQueue is the default Config.RefusalQueue: how many refused
// calls may wait to be appended before more are dropped.
const DefaultRefusalQueue = 1024

const (
	// refusalBatch bounds how many refusals one store transaction appends.
	refusalBatch = 256
	// maxRefusalResource is the longest resource name a refusal event
	// carries; a longer one (never a valid name) is left out.
	maxRefusalResource = 512
	// maxRefusalMessage bounds the audit message of a refusal event.
	maxRefusalMessage = 1024
	// refusalWarnEvery is how often, at most, dropped refusals are logged.
	refusalWarnEvery = 10 * time.Second
)

// Reasons of steward_refused_calls_dropped_total.
const (
	dropQueueFull    = "queue_full"
	dropAppendFailed = "append_failed"
)

// refusal is a refused call waiting to be appended: what the call's
// context said of it, taken on the caller's goroutine.
type refusal struct {
	grpcserver.Refusal
	actor     authn.Principal
	requestID string
	address   string
	// traceparent is the refused call's span context, when traced.
	traceparent string
}

// refusals appends refused calls to the event log: record queues one
// without ever blocking, run appends them until stop.
type refusals struct {
	typ         string
	st          store.Store
	appendEvent func(tx store.Tx, ev *eventlogv1.Event) error // records one event in tx
	logger      *slog.Logger
	queue       chan refusal

	recorded prometheus.Counter
	dropped  *prometheus.CounterVec // by reason
	lost     atomic.Uint64          // dropped so far, for the warning
	warned   atomic.Int64           // unix nanoseconds of the last warning

	startOnce, stopOnce sync.Once
	started             atomic.Bool
	stopCh              chan struct{}
	done                chan struct{}
}

func newRefusals(typ string, st store.Store, record func(tx store.Tx, ev *eventlogv1.Event) error, logger *slog.Logger, size int) *refusals {
	if size <= 0 {
		size = DefaultRefusalQueue
	}
	return &refusals{
		typ: typ, st: st, appendEvent: record, logger: logger,
		queue: make(chan refusal, size),
		recorded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "steward_refused_calls_recorded_total",
			Help: "Refused calls of mutating methods appended to the service's event log (R27).",
		}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "steward_refused_calls_dropped_total",
			Help: "Refused calls of mutating methods not recorded in the service's event log: too many waiting (queue_full) or the append failed (append_failed).",
		}, []string{"reason"}),
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// register registers the metrics on reg.
func (r *refusals) register(reg prometheus.Registerer) error {
	r.dropped.WithLabelValues(dropQueueFull)
	r.dropped.WithLabelValues(dropAppendFailed)
	for _, c := range []prometheus.Collector{r.recorded, r.dropped} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// record queues a refused call (grpcserver.Config.RecordRefusal). It never
// blocks: when the queue is full the refusal is dropped, counted and
// logged (at most every refusalWarnEvery).
func (r *refusals) record(ctx context.Context, c grpcserver.Refusal) {
	actor, _ := authn.Actor(ctx)
	select {
	case r.queue <- refusal{Refusal: c, actor: actor, requestID: authn.RequestID(ctx), address: authn.ClientAddress(ctx), traceparent: tracing.Traceparent(ctx)}:
	default:
		r.drop(dropQueueFull, 1, "too many refused calls waiting to be recorded",
			"method", c.FullMethod, "actor", actor.Name, "request_id", authn.RequestID(ctx))
	}
}

// drop counts n refusals that will not be recorded and logs a warning,
// unless one was logged less than refusalWarnEvery ago.
func (r *refusals) drop(reason string, n int, why string, attrs ...any) {
	r.dropped.WithLabelValues(reason).Add(float64(n))
	total := r.lost.Add(uint64(n))
	now := time.Now().UnixNano()
	last := r.warned.Load()
	if now-last < int64(refusalWarnEvery) || !r.warned.CompareAndSwap(last, now) {
		return
	}
	attrs = append(attrs, "reason", reason, "dropped_total", total)
	r.logger.Warn("backend: refused call not recorded in the event log: "+why, attrs...)
}

// start starts the goroutine appending refusals; once.
func (r *refusals) start() {
	r.startOnce.Do(func() {
		r.started.Store(true)
		go r.run()
	})
}

// stop makes run append what is queued and return, and waits for it. The
// server calls it once stopped (its calls have returned), before the event
// log and the store close.
func (r *refusals) stop() error {
	r.stopOnce.Do(func() { close(r.stopCh) })
	if r.started.Load() {
		<-r.done
	}
	return nil
}

// run appends queued refusals, several per transaction when they wait
// together, until stop; then it appends what is left and returns.
func (r *refusals) run() {
	defer close(r.done)
	for {
		select {
		case c := <-r.queue:
			r.appendBatch(c)
		case <-r.stopCh:
			for {
				select {
				case c := <-r.queue:
					r.appendBatch(c)
				default:
					return
				}
			}
		}
	}
}

// appendBatch appends first and the refusals queued behind it, up to
// refusalBatch, in one transaction.
func (r *refusals) appendBatch(first refusal) {
	events := []*eventlogv1.Event{r.event(first)}
fill:
	for len(events) < refusalBatch {
		select {
		case c := <-r.queue:
			events = append(events, r.event(c))
		default:
			break fill
		}
	}
	err := r.st.Update(context.Background(), func(tx store.Tx) error {
		for _, ev := range events {
			if err := r.appendEvent(tx, ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.drop(dropAppendFailed, len(events), "appending failed", "events", len(events), "error", err)
		return
	}
	r.recorded.Add(float64(len(events)))
}

// event returns the event recording c: type r.typ, no operation, the
// target resource and its organization (else the actor's), and an audit
// envelope of outcome DENIED whose action is the method's short name.
func (r *refusals) event(c refusal) *eventlogv1.Event {
	resource := c.Resource
	if len(resource) > maxRefusalResource {
		resource = ""
	}
	org := resourcename.OrganizationOf(resource)
	if org == "" {
		org = c.actor.Organization
	}
	return &eventlogv1.Event{
		Type:         r.typ,
		Resource:     resource,
		Organization: org,
		Operation:    eventlogv1.Operation_OPERATION_UNSPECIFIED,
		Traceparent:  c.traceparent,
		Audit: &eventlogv1.AuditEnvelope{
			Actor:            c.actor.Name,
			ActorDisplayName: c.actor.DisplayName,
			Action:           c.Method,
			Message:          refusalMessage(c.Refusal, resource),
			RequestId:        c.requestID,
			Outcome:          eventlogv1.Outcome_OUTCOME_DENIED,
			SourceAddress:    c.address,
		},
	}
}

// refusalMessage returns the audit message of c on resource, e.g.
// "CreateUser on organizations/o1 was refused: PermissionDenied
// (PERMISSION_DENIED): permission denied: ... lacks users.create on ...".
func refusalMessage(c grpcserver.Refusal, resource string) string {
	var b strings.Builder
	b.WriteString(c.Method)
	if resource != "" {
		b.WriteString(" on ")
		b.WriteString(resource)
	}
	b.WriteString(" was refused: ")
	b.WriteString(c.Status.Code().String())
	for _, d := range c.Status.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" {
			b.WriteString(" (" + info.GetReason() + ")")
			break
		}
	}
	if m := c.Status.Message(); m != "" {
		b.WriteString(": ")
		b.WriteString(m)
	}
	return clip(b.String(), maxRefusalMessage)
}

// clip returns s as valid UTF-8 (a status message may not be, and the
// event could not be stored), cut to at most n bytes and marked with an
// ellipsis when cut.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
