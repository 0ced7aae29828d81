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
)

// RegisterMetrics registers the consumer metrics
// (steward_eventlog_consumer_resyncs_total{consumer} and
// steward_eventlog_consumer_cursor{consumer}) on r, e.g. the registry of
// grpcserver.Server.MetricsRegistry.
func RegisterMetrics(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{consumerResyncs, consumerCursor} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
