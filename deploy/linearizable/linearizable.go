// Package linearizable records what clients of a replicated Steward saw of a
// register-like workload (is this member in that group? add it; remove it) and
// checks the history for linearizability with porcupine (R32, issue 17 point
// 4): every operation must appear to take effect at one instant between its
// call and its return, whichever replica served it and whatever failed
// meanwhile.
package linearizable

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Kind is what an operation does to its key.
type Kind int

// The kinds of operation.
const (
	// Read asks whether the key is set (a member in the group).
	Read Kind = iota
	// Add sets the key.
	Add
	// Remove clears the key.
	Remove
)

func (k Kind) String() string { return [...]string{"read", "add", "remove"}[k] }

// Input is an operation's request.
type Input struct {
	Key  string
	Kind Kind
}

// Output is what the operation returned.
type Output struct {
	// Present is what a Read saw.
	Present bool
	// Changed is, for an Add or Remove whose answer tells it, whether the
	// key changed (an Add of a set key or a Remove of a clear one is
	// refused, or accepted without change); nil when the answer does not
	// say.
	Changed *bool
}

// Model is the register per key: porcupine's model, partitioned by key.
var Model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(Input).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return false },
	Step: func(state, input, output any) (bool, any) {
		set, in, out := state.(bool), input.(Input), output.(Output)
		switch in.Kind {
		case Read:
			return out.Present == set, set
		case Add:
			return out.Changed == nil || *out.Changed == !set, true
		default:
			return out.Changed == nil || *out.Changed == set, false
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		if in.Kind == Read {
			return fmt.Sprintf("read(%s) -> %v", in.Key, out.Present)
		}
		if out.Changed == nil {
			return fmt.Sprintf("%s(%s)", in.Kind, in.Key)
		}
		return fmt.Sprintf("%s(%s) changed=%v", in.Kind, in.Key, *out.Changed)
	},
}

// History collects operations from concurrent clients.
type History struct {
	mu    sync.Mutex
	start time.Time
	ops   []porcupine.Operation
}

// NewHistory returns an empty history whose clock starts now.
func NewHistory() *History { return &History{start: time.Now()} }

// Call records the start of client's operation in and returns the function
// to call when it ends: with its output when it succeeded, with failed when
// it returned an error. A failed Read is left out (it changed nothing); a
// failed Add or Remove may or may not have taken effect (the request may
// have committed before the error), so it stays in the history as never
// returning.
func (h *History) Call(client int, in Input) (done func(out Output, failed bool)) {
	call := time.Since(h.start).Nanoseconds()
	return func(out Output, failed bool) {
		ret := time.Since(h.start).Nanoseconds()
		if failed {
			if in.Kind == Read {
				return
			}
			ret, out = 1<<62, Output{} // may have happened any time after the call
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
	}
}

// Len returns how many operations were recorded.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// Check checks the history against Model, for at most timeout; it returns
// porcupine.Ok, porcupine.Illegal or porcupine.Unknown (timed out), and on
// Illegal a description of the keys whose operations admit no order.
func (h *History) Check(timeout time.Duration) (porcupine.CheckResult, string) {
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	h.mu.Unlock()
	res := porcupine.CheckOperationsTimeout(Model, ops, timeout)
	if res != porcupine.Illegal {
		return res, ""
	}
	// Name the keys none of whose orders fits, with their operations.
	var bad []string
	for _, part := range Model.Partition(ops) {
		if porcupine.CheckOperations(Model, part) {
			continue
		}
		sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		for _, op := range part {
			bad = append(bad, fmt.Sprintf("client %d [%d, %d] %s", op.ClientId, op.Call, op.Return, Model.DescribeOperation(op.Input, op.Output)))
		}
	}
	return res, strings.Join(bad, "\n")
}
