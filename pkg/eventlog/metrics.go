package eventlog

import "github.com/prometheus/client_golang/prometheus"

// Consumer metrics, shared by every Consumer of the process. Register them on
// the service's registry with RegisterMetrics.
var (
	consumerResyncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "steward_eventlog_consumer_resyncs_total",
		Help: "Times a consumer's cursor fell behind its source's retention horizon and it resynced from a snapshot.",
	}, []string{"consumer"})
	consumerCursor = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "steward_eventlog_consumer_cursor",
		Help: "Sequence of the last event a consumer applied.",
	}, []string{"consumer"})
	consumerHead = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "steward_eventlog_consumer_source_head",
		Help: "Newest sequence of its source a consumer knows of.",
	}, []string{"consumer"})
	consumerLag = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "steward_eventlog_consumer_lag_events",
		Help: "Events of its source a consumer knows of and has not applied yet.",
	}, []string{"consumer"})
	consumerReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "steward_eventlog_consumer_ready",
		Help: "1 once a consumer caught up with the head it saw on connecting and is not stuck.",
	}, []string{"consumer"})
	consumerStuck = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "steward_eventlog_consumer_stuck",
		Help: "1 while a consumer cannot make progress without help (log replaced or trimmed past it without Resync, or applying keeps failing).",
	}, []string{"consumer"})
	consumerApplied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "steward_eventlog_consumer_applied_events_total",
		Help: "Events a consumer applied.",
	}, []string{"consumer"})
	consumerBatches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "steward_eventlog_consumer_batches_total",
		Help: "Store transactions a consumer committed to apply events.",
	}, []string{"consumer"})
	retentionOverrun = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "steward_eventlog_retention_overrun_events_total",
		Help: "Events retention deleted before a durable consumer acknowledged them, because the operator's hard bound was exceeded.",
	}, []string{"source", "consumer"})
)

// RegisterMetrics registers the event-log metrics (steward_eventlog_*: a
// consumer's cursor, source head, lag, readiness, stuck flag, applied events,
// batches and resyncs; retention overruns of durable consumers) on r, e.g. the
// registry of grpcserver.Server.MetricsRegistry.
func RegisterMetrics(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{consumerResyncs, consumerCursor, consumerHead, consumerLag, consumerReady,
		consumerStuck, consumerApplied, consumerBatches, retentionOverrun} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
