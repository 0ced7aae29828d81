package linearizable

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func changed(b bool) *bool { return &b }

// op appends one operation with explicit times.
func op(h *History, client int, call, ret int64, in Input, out Output) {
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// TestCheck: histories a linearizable register can produce pass; a read
// that misses an acknowledged add, or an add that changed an already set key,
// fails; an add that failed may or may not have happened.
func TestCheck(t *testing.T) {
	add, rm, read := Input{"g|m", Add}, Input{"g|m", Remove}, Input{"g|m", Read}
	cases := []struct {
		name  string
		build func(h *History)
		want  porcupine.CheckResult
	}{
		{"sequential", func(h *History) {
			op(h, 0, 0, 10, add, Output{Changed: changed(true)})
			op(h, 1, 20, 30, read, Output{Present: true})
			op(h, 0, 40, 50, rm, Output{Changed: changed(true)})
			op(h, 1, 60, 70, read, Output{Present: false})
		}, porcupine.Ok},
		{"concurrent read may see either", func(h *History) {
			op(h, 0, 0, 100, add, Output{})
			op(h, 1, 10, 20, read, Output{Present: false})
			op(h, 2, 30, 40, read, Output{Present: true})
		}, porcupine.Ok},
		{"stale read after acknowledged add", func(h *History) {
			op(h, 0, 0, 10, add, Output{Changed: changed(true)})
			op(h, 1, 20, 30, read, Output{Present: false})
		}, porcupine.Illegal},
		{"second add claims a change", func(h *History) {
			op(h, 0, 0, 10, add, Output{Changed: changed(true)})
			op(h, 1, 20, 30, add, Output{Changed: changed(true)})
		}, porcupine.Illegal},
		{"failed add may have happened", func(h *History) {
			op(h, 0, 0, 1<<62, add, Output{})
			op(h, 1, 20, 30, read, Output{Present: true})
			op(h, 1, 40, 50, read, Output{Present: true})
		}, porcupine.Ok},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistory()
			tc.build(h)
			if got, why := h.Check(10 * time.Second); got != tc.want {
				t.Errorf("Check = %v, want %v\n%s", got, tc.want, why)
			}
		})
	}
}

// TestCallRecords: Call stamps the call and the return, and a failed write
// stays in the history as never returning while a failed read is dropped.
func TestCallRecords(t *testing.T) {
	h := NewHistory()
	h.Call(0, Input{"k", Add})(Output{Changed: changed(true)}, false)
	h.Call(1, Input{"k", Read})(Output{}, true)
	h.Call(1, Input{"k", Remove})(Output{}, true)
	if h.Len() != 2 {
		t.Fatalf("%d operations recorded, want 2", h.Len())
	}
	if last := h.ops[1]; last.Return != 1<<62 || last.Input.(Input).Kind != Remove {
		t.Errorf("failed remove recorded as %+v", last)
	}
	if got, why := h.Check(time.Second); got != porcupine.Ok {
		t.Errorf("Check = %v\n%s", got, why)
	}
}
