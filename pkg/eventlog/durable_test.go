package eventlog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/eventlog"
)

// TestRetentionKeepsWhatDurableConsumersHaveNotRead: retention never deletes
// past a durable consumer's acknowledged position, until the operator's hard
// bound is exceeded, and then it counts the overrun (issue 10, deliver 4).
func TestRetentionKeepsWhatDurableConsumersHaveNotRead(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		retention   eventlog.Retention
		acked       uint64
		wantHorizon uint64
		wantOverrun float64
	}{
		{name: "no durable consumer", retention: eventlog.Retention{MaxEvents: 5}, wantHorizon: 15},
		{name: "durable consumer holds retention back", retention: eventlog.Retention{MaxEvents: 5}, acked: 7, wantHorizon: 7},
		{name: "durable consumer ahead of retention", retention: eventlog.Retention{MaxEvents: 5}, acked: 18, wantHorizon: 15},
		{name: "hard bound exceeded", retention: eventlog.Retention{MaxEvents: 5, HardMaxEvents: 10}, acked: 7, wantHorizon: 10, wantOverrun: 3},
		{name: "hard bound by age", retention: eventlog.Retention{MaxAge: time.Minute, HardMaxAge: time.Hour}, acked: 4, wantHorizon: 20, wantOverrun: 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, "p")
			now := time.Now()
			clock := func() time.Time { return now }
			l := newLog(t, s, eventlog.Options{Retention: tt.retention, Clock: func() time.Time { return clock() }})
			appendN(t, s, l, 20)
			head := mustHead(t, l)
			if tt.acked > 0 {
				if err := l.Acknowledge(ctx, "audit-"+tt.name[:3], eventlog.Position{LogID: head.LogID, Sequence: tt.acked}); err != nil {
					t.Fatal(err)
				}
			}
			consumer := "audit-" + tt.name[:3]
			before := overrunCount(t, consumer)
			clock = func() time.Time { return now.Add(2 * time.Hour) }
			if _, err := l.Compact(ctx); err != nil {
				t.Fatal(err)
			}
			if h, _ := l.Horizon(ctx); h != tt.wantHorizon {
				t.Errorf("horizon = %d, want %d", h, tt.wantHorizon)
			}
			if got := overrunCount(t, consumer) - before; got != tt.wantOverrun {
				t.Errorf("overrun counter grew by %v, want %v", got, tt.wantOverrun)
			}
		})
	}
}

// overrunCount returns steward_eventlog_retention_overrun_events_total of
// the test log's source ("directory", see newLog) for consumer.
func overrunCount(t *testing.T, consumer string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := eventlog.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "steward_eventlog_retention_overrun_events_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["source"] == "directory" && labels["consumer"] == consumer {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestAcknowledgeRefusesAnotherLog(t *testing.T) {
	s := openStore(t, "p")
	l := newLog(t, s, eventlog.Options{})
	appendN(t, s, l, 2)
	err := l.Acknowledge(context.Background(), "audit", eventlog.Position{LogID: "another", Sequence: 1})
	if !errors.Is(err, eventlog.ErrReset) {
		t.Fatalf("Acknowledge of another log = %v, want ErrReset", err)
	}
}

// TestDurableConsumerOverGRPC: a durable consumer registers itself through
// Watch and acknowledges through AcknowledgeEvents, and a Watch from another
// log is refused with EVENTLOG_RESET on the wire.
func TestDurableConsumerOverGRPC(t *testing.T) {
	verifyNoLeaks(t)
	ps, cs := openStore(t, "producer"), openStore(t, "consumer")
	l := newLog(t, ps, eventlog.Options{Retention: eventlog.Retention{MaxEvents: 1}})
	client := serve(t, l)
	appendN(t, ps, l, 10)
	c := &eventlog.Consumer{Name: "audit-directory", Store: cs, Source: eventlog.NewClientSource(client), Apply: countApply(),
		Durable: true, AckInterval: time.Nanosecond}
	stop := runConsumer(t, c)
	waitFor(t, c, 10)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	appendN(t, ps, l, 10) // not read by the stopped consumer
	if _, err := l.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h, _ := l.Horizon(context.Background()); h != 10 {
		t.Errorf("horizon = %d, want 10: the durable consumer acknowledged 10 and no more", h)
	}
	c2 := &eventlog.Consumer{Name: "audit-directory", Store: cs, Source: eventlog.NewClientSource(client), Apply: countApply(), Durable: true}
	runConsumer(t, c2)
	waitFor(t, c2, 20)
	checkAppliedOnce(t, cs, 1, 20)

	sub := eventlog.Subscription{From: eventlog.Position{LogID: "not-this-log", Sequence: 3}}
	err := eventlog.NewClientSource(client).Watch(context.Background(), sub, func(*eventlogv1.Event) error { return nil })
	if !errors.Is(err, eventlog.ErrReset) {
		t.Fatalf("Watch from another log = %v, want EVENTLOG_RESET", err)
	}
}
