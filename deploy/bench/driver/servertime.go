package driver

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// handlingTimeMetric is the server's histogram of handling times
// (pkg/grpcserver): from its metrics interceptor's start to the handler's
// return, after the request is decoded and before the response is sent.
const handlingTimeMetric = "grpc_server_handling_seconds"

// histogram is one method's handling-time histogram: cumulative counts of
// the observations up to each bucket's upper bound, the last bound +Inf.
type histogram struct {
	upper  []float64 // seconds, ascending
	counts []uint64  // cumulative
}

// count returns the number of observations.
func (h histogram) count() uint64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// sub returns the observations of h that before, an earlier scrape of the
// same histogram, does not hold. A before of other buckets (the server
// restarted in between, or nothing was scraped) counts as empty.
func (h histogram) sub(before histogram) histogram {
	out := histogram{upper: h.upper, counts: make([]uint64, len(h.counts))}
	same := len(before.upper) == len(h.upper)
	for i := range h.upper {
		same = same && before.upper[i] == h.upper[i] && before.counts[i] <= h.counts[i]
	}
	for i, c := range h.counts {
		if same {
			c -= before.counts[i]
		}
		out.counts[i] = c
	}
	return out
}

// quantile estimates the q-quantile (0 < q ≤ 1) of the observations in
// seconds as Prometheus's histogram_quantile does: it finds the bucket
// holding the q·count-th observation and interpolates linearly within it,
// the first bucket starting at 0; in the +Inf bucket it returns the
// highest finite bound. So its resolution is the bucket width. It returns
// NaN without observations.
func (h histogram) quantile(q float64) float64 {
	n := len(h.upper)
	if n < 2 || !math.IsInf(h.upper[n-1], 1) || h.count() == 0 {
		return math.NaN()
	}
	rank := q * float64(h.count())
	b := sort.Search(n-1, func(i int) bool { return float64(h.counts[i]) >= rank })
	if b == n-1 {
		return h.upper[n-2]
	}
	if b == 0 && h.upper[0] <= 0 {
		return h.upper[0]
	}
	start, end, count := 0.0, h.upper[b], float64(h.counts[b])
	if b > 0 {
		start = h.upper[b-1]
		count -= float64(h.counts[b-1])
		rank -= float64(h.counts[b-1])
	}
	return start + (end-start)*rank/count
}

// scrapeHandlingTime GETs http://addr/metrics and returns its
// handling-time histograms by full method name.
func scrapeHandlingTime(ctx context.Context, client *http.Client, addr string) (map[string]histogram, error) {
	url := "http://" + addr + "/metrics"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("driver: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("driver: GET %s: %s", url, resp.Status)
	}
	return parseHandlingTime(resp.Body)
}

// parseHandlingTime reads Prometheus's text exposition format and returns
// the handling-time histograms by full method name, "/service/method".
func parseHandlingTime(r io.Reader) (map[string]histogram, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("driver: parsing metrics: %w", err)
	}
	out := make(map[string]histogram)
	for _, m := range families[handlingTimeMetric].GetMetric() {
		var service, method string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "grpc_service":
				service = l.GetValue()
			case "grpc_method":
				method = l.GetValue()
			}
		}
		var h histogram
		for _, b := range m.GetHistogram().GetBucket() {
			h.upper = append(h.upper, b.GetUpperBound())
			h.counts = append(h.counts, b.GetCumulativeCount())
		}
		if len(h.upper) == 0 || !math.IsInf(h.upper[len(h.upper)-1], 1) {
			h.upper = append(h.upper, math.Inf(1))
			h.counts = append(h.counts, m.GetHistogram().GetSampleCount())
		}
		out["/"+service+"/"+method] = h
	}
	return out, nil
}
