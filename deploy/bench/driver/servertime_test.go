package driver

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

var inf = math.Inf(1)

func TestQuantile(t *testing.T) {
	us := func(v float64) float64 { return v * 1e-6 }
	fine := []float64{us(25), us(50), us(75), us(100), us(125), us(150), us(175), us(200), inf}
	for _, tc := range []struct {
		name   string
		h      histogram
		q      float64
		want   float64 // NaN: none
		within float64
	}{
		{name: "no observations", h: histogram{upper: []float64{1, 2, inf}, counts: []uint64{0, 0, 0}}, q: 0.5, want: math.NaN()},
		{name: "no +Inf bucket", h: histogram{upper: []float64{1, 2}, counts: []uint64{1, 2}}, q: 0.5, want: math.NaN()},
		{name: "one bucket only", h: histogram{upper: []float64{inf}, counts: []uint64{3}}, q: 0.5, want: math.NaN()},
		{name: "first bucket starts at 0", h: histogram{upper: []float64{1, 2, inf}, counts: []uint64{10, 10, 10}}, q: 0.5, want: 0.5},
		{name: "interpolated in a later bucket", h: histogram{upper: []float64{1, 2, inf}, counts: []uint64{10, 30, 30}}, q: 0.5, want: 1.25},
		{name: "q 1 is the bucket's upper bound", h: histogram{upper: []float64{1, 2, inf}, counts: []uint64{10, 20, 20}}, q: 1, want: 2},
		{name: "rank on a boundary", h: histogram{upper: []float64{1, 2, inf}, counts: []uint64{10, 20, 20}}, q: 0.5, want: 1},
		{name: "in +Inf: the highest finite bound", h: histogram{upper: []float64{1, 2, inf}, counts: []uint64{0, 0, 10}}, q: 0.99, want: 2},
		{name: "p99 just in +Inf", h: histogram{upper: []float64{1, 2, inf}, counts: []uint64{50, 98, 100}}, q: 0.99, want: 2},
		{name: "non-positive first bound", h: histogram{upper: []float64{0, 1, inf}, counts: []uint64{5, 10, 10}}, q: 0.2, want: 0},
		// 100 calls: 40 in (100, 125] µs, 59 in (125, 150] µs, 1 in
		// (175, 200] µs. p50: the 50th, the 10th of 59 in (125, 150].
		{name: "25 µs buckets, p50", h: histogram{upper: fine, counts: []uint64{0, 0, 0, 0, 40, 99, 99, 100, 100}}, q: 0.5,
			want: us(125 + 25*10.0/59), within: 1e-12},
		// p99: the 99th, the last of (125, 150].
		{name: "25 µs buckets, p99", h: histogram{upper: fine, counts: []uint64{0, 0, 0, 0, 40, 99, 99, 100, 100}}, q: 0.99, want: us(150), within: 1e-12},
		{name: "25 µs buckets, p999", h: histogram{upper: fine, counts: []uint64{0, 0, 0, 0, 40, 99, 99, 100, 100}}, q: 0.999, want: us(175 + 25*0.9), within: 1e-12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.h.quantile(tc.q)
			switch {
			case math.IsNaN(tc.want):
				if !math.IsNaN(got) {
					t.Errorf("quantile(%v) = %v, want NaN", tc.q, got)
				}
			case math.Abs(got-tc.want) > tc.within:
				t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

func TestSub(t *testing.T) {
	before := histogram{upper: []float64{1, 2, inf}, counts: []uint64{3, 5, 6}}
	after := histogram{upper: []float64{1, 2, inf}, counts: []uint64{4, 9, 12}}
	if got, want := after.sub(before), (histogram{upper: []float64{1, 2, inf}, counts: []uint64{1, 4, 6}}); !reflect.DeepEqual(got, want) {
		t.Errorf("sub = %+v, want %+v", got, want)
	}
	for _, other := range []histogram{
		{},
		{upper: []float64{1, 3, inf}, counts: []uint64{3, 5, 6}},    // other buckets
		{upper: []float64{1, 2, inf}, counts: []uint64{30, 50, 60}}, // larger: the server restarted
	} {
		if got := after.sub(other); !reflect.DeepEqual(got, after) {
			t.Errorf("sub(%+v) = %+v, want everything", other, got)
		}
	}
}

func TestParseHandlingTime(t *testing.T) {
	const text = `# HELP grpc_server_handled_total Total number of RPCs completed on the server, regardless of success or failure.
# TYPE grpc_server_handled_total counter
grpc_server_handled_total{grpc_code="OK",grpc_method="CheckPermission",grpc_service="steward.access.v1.AccessService",grpc_type="unary"} 7
# HELP grpc_server_handling_seconds Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.
# TYPE grpc_server_handling_seconds histogram
grpc_server_handling_seconds_bucket{grpc_method="CheckPermission",grpc_service="steward.access.v1.AccessService",grpc_type="unary",le="2.5e-05"} 2
grpc_server_handling_seconds_bucket{grpc_method="CheckPermission",grpc_service="steward.access.v1.AccessService",grpc_type="unary",le="5e-05"} 6
grpc_server_handling_seconds_bucket{grpc_method="CheckPermission",grpc_service="steward.access.v1.AccessService",grpc_type="unary",le="+Inf"} 7
grpc_server_handling_seconds_sum{grpc_method="CheckPermission",grpc_service="steward.access.v1.AccessService",grpc_type="unary"} 0.0004
grpc_server_handling_seconds_count{grpc_method="CheckPermission",grpc_service="steward.access.v1.AccessService",grpc_type="unary"} 7
grpc_server_handling_seconds_bucket{grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary",le="2.5e-05"} 0
grpc_server_handling_seconds_bucket{grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary",le="5e-05"} 0
grpc_server_handling_seconds_bucket{grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary",le="+Inf"} 0
grpc_server_handling_seconds_sum{grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 0
grpc_server_handling_seconds_count{grpc_method="Check",grpc_service="grpc.health.v1.Health",grpc_type="unary"} 0
`
	got, err := parseHandlingTime(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]histogram{
		"/steward.access.v1.AccessService/CheckPermission": {upper: []float64{25e-6, 50e-6, inf}, counts: []uint64{2, 6, 7}},
		"/grpc.health.v1.Health/Check":                     {upper: []float64{25e-6, 50e-6, inf}, counts: []uint64{0, 0, 0}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseHandlingTime = %+v, want %+v", got, want)
	}
	if _, err := parseHandlingTime(strings.NewReader("grpc_server_handling_seconds_bucket{le=\n")); err == nil {
		t.Error("parseHandlingTime of a broken line succeeded")
	}
}
