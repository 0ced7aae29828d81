package domain_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	auditv1 "steward.dev/gen/steward/audit/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	"steward.dev/pkg/records"
	"steward.dev/services/audit/domain"
)

// population records n events in org and a few in other, from the three
// sources, with actors, actions, targets, tenants and outcomes drawn at
// random (fixed seed), and times that are not in index order: each source
// runs its own clock, up to a minute behind the others, as when audit
// catches up with one source after another. It returns org's events as
// recorded.
func population(t testing.TB, f *fixture, n int) []*auditv1.AuditEvent {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	actors := []string{org + "/users/ann", org + "/users/bob", org + "/robotAccounts/r1", "services/directory"}
	targets := []string{org + "/users/carl", org + "/tenants/t1", org + "/tenants/t1/services/s1", org + "/tenants/t2/services/s2/folders/f", org + "/roles/r"}
	sources := []string{"directory", "access", "licensing"}
	verbs := []string{"created", "updated", "deleted"}
	outcomes := []eventlogv1.Outcome{eventlogv1.Outcome_OUTCOME_SUCCESS, eventlogv1.Outcome_OUTCOME_SUCCESS, eventlogv1.Outcome_OUTCOME_DENIED, eventlogv1.Outcome_OUTCOME_FAILURE}
	skew := map[string]time.Duration{"directory": 0, "access": -time.Minute, "licensing": -30 * time.Second}
	base := f.now
	for i := range n {
		src := sources[r.IntN(len(sources))]
		f.now = base.Add(time.Duration(i)*time.Second + skew[src])
		target := targets[r.IntN(len(targets))]
		env := &eventlogv1.AuditEnvelope{Actor: actors[r.IntN(len(actors))], Outcome: outcomes[r.IntN(len(outcomes))], RequestId: fmt.Sprintf("req-%d", i)}
		f.apply(src, f.event(src, src+".thing."+verbs[r.IntN(len(verbs))], target, env))
		if i%10 == 0 {
			f.apply(src, f.event(src, src+".thing.created", other+"/users/zed", env))
		}
	}
	f.now = base.Add(time.Duration(n) * time.Second)
	var all []*auditv1.AuditEvent
	for i := int64(0); ; i++ {
		ev, err := f.d.GetAuditEvent(context.Background(), auditor, fmt.Sprintf("%s/auditEvents/%d", org, i))
		if errors.Is(err, domain.ErrNotFound) {
			return all
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ev)
	}
}

// expect returns the events of all that match filter in the order of a
// search (by time then index, newest first when desc): what a search must
// return, found by brute force.
func expect(t testing.TB, all []*auditv1.AuditEvent, filter string, desc bool) []string {
	t.Helper()
	f, err := domain.ParseFilter(filter)
	if err != nil {
		t.Fatal(err)
	}
	var out []*auditv1.AuditEvent
	for _, ev := range all {
		n := ev.GetTime().AsTime().UnixNano()
		ok := n >= f.From && n <= f.To
		for _, c := range f.Conditions {
			var v string
			switch c.Field {
			case domain.FieldActor:
				v = ev.GetActor()
			case domain.FieldAction:
				v = ev.GetAction()
			case domain.FieldTarget:
				v = ev.GetTarget()
			case domain.FieldTenant:
				v = ev.GetTenant()
			case domain.FieldSource:
				v = ev.GetSource()
			case domain.FieldOutcome:
				v = ev.GetOutcome().String()
			}
			ok = ok && v == c.Value
		}
		if ok {
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b *auditv1.AuditEvent) int {
		if c := a.GetTime().AsTime().Compare(b.GetTime().AsTime()); c != 0 {
			return c
		}
		return int(a.GetIndex() - b.GetIndex())
	})
	if desc {
		slices.Reverse(out)
	}
	return names(out)
}

func names(evs []*auditv1.AuditEvent) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.GetName())
	}
	return out
}

// listAll pages through a search and returns every name, checking that no
// page is larger than asked.
func listAll(t testing.TB, d *domain.Service, actor domain.Actor, req *auditv1.ListAuditEventsRequest) ([]string, int) {
	t.Helper()
	var out []string
	pages := 0
	for {
		resp, err := d.ListAuditEvents(context.Background(), actor, req)
		if err != nil {
			t.Fatalf("ListAuditEvents(%q, %q): %v", req.GetFilter(), req.GetOrderBy(), err)
		}
		pages++
		if size := int(req.GetPageSize()); size > 0 && len(resp.GetAuditEvents()) > size {
			t.Fatalf("page of %d events, asked for %d", len(resp.GetAuditEvents()), size)
		}
		out = append(out, names(resp.GetAuditEvents())...)
		if resp.GetNextPageToken() == "" {
			return out, pages
		}
		req = &auditv1.ListAuditEventsRequest{Parent: req.GetParent(), Filter: req.GetFilter(), OrderBy: req.GetOrderBy(),
			PageSize: req.GetPageSize(), PageToken: resp.GetNextPageToken()}
		if pages > 10_000 {
			t.Fatal("paging does not end")
		}
	}
}

// R29: every filter field, alone and combined, in both orders and at
// several page sizes, returns exactly the matching events, newest first by
// default (by time, then index), each once across the pages.
func TestListAuditEvents(t *testing.T) {
	f := newFixture(t, domain.Options{})
	all := population(t, f, 400)
	at := func(sec int) string { return start.Add(time.Duration(sec) * time.Second).Format(time.RFC3339) }
	filters := []string{
		``,
		`actor = "` + org + `/users/ann"`,
		`actor = "services/directory"`,
		`action = "thing.deleted"`,
		`target = "` + org + `/tenants/t1"`,
		`tenant = "` + org + `/tenants/t1"`,
		`tenant = "` + org + `/tenants/t2"`,
		`outcome = DENIED`,
		`outcome = FAILURE`,
		`source = access`,
		`source = audit`,
		`time >= "` + at(100) + `"`,
		`time > "` + at(100) + `" AND time <= "` + at(200) + `"`,
		`time < "` + at(30) + `"`,
		`actor = "` + org + `/users/bob" AND outcome = SUCCESS`,
		`actor = "` + org + `/users/bob" AND time >= "` + at(50) + `" AND time < "` + at(250) + `"`,
		`tenant = "` + org + `/tenants/t1" AND action = "thing.created" AND source = licensing`,
		`target = "` + org + `/users/carl" AND outcome = DENIED AND time < "` + at(300) + `"`,
		`actor = "` + org + `/users/nobody"`,
		`actor = "` + org + `/users/ann" AND actor = "` + org + `/users/bob"`,
		`actor = ""`,
	}
	for _, filter := range filters {
		for _, order := range []string{"", "time desc", "time asc"} {
			want := expect(t, all, filter, order != "time asc")
			for _, size := range []int32{0, 1, 7, 1000} {
				got, _ := listAll(t, f.d, auditor, &auditv1.ListAuditEventsRequest{Parent: org, Filter: filter, OrderBy: order, PageSize: size})
				if !slices.Equal(got, want) {
					t.Errorf("filter %q order %q size %d: %d events %.5q..., want %d %.5q...", filter, order, size, len(got), got, len(want), want)
				}
			}
		}
	}
	// Newest first: the first page of the unfiltered search begins with
	// the latest event by time, which is not the latest index.
	resp, err := f.d.ListAuditEvents(context.Background(), auditor, &auditv1.ListAuditEventsRequest{Parent: org, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetAuditEvents()[0].GetName(); got != expect(t, all, "", true)[0] {
		t.Errorf("first event = %s", got)
	}
}

// R29: a search answers from an index: a rare actor among many events is
// found in one page even when a page may examine only a few entries,
// while a search the time index answers pages through every event.
func TestListUsesIndexes(t *testing.T) {
	f := newFixture(t, domain.Options{ScanBudget: 5})
	population(t, f, 300)
	rare := &eventlogv1.AuditEnvelope{Actor: org + "/users/rare", Outcome: eventlogv1.Outcome_OUTCOME_DENIED}
	for range 3 {
		f.now = f.now.Add(time.Second)
		f.apply("directory", f.event("directory", "directory.user.updated", org+"/users/x", rare))
	}
	population(t, f, 300)
	for filter, wantPages := range map[string]int{
		`actor = "` + org + `/users/rare"`:                      1,
		`actor = "` + org + `/users/rare" AND outcome = DENIED`: 1,
		`target = "` + org + `/users/x"`:                        1,
	} {
		got, pages := listAll(t, f.d, auditor, &auditv1.ListAuditEventsRequest{Parent: org, Filter: filter, PageSize: 10})
		if len(got) != 3 || pages != wantPages {
			t.Errorf("%s: %d events in %d pages, want 3 in %d", filter, len(got), pages, wantPages)
		}
	}
	// Through the time index, a budget of 5 entries makes pages of 5.
	got, pages := listAll(t, f.d, auditor, &auditv1.ListAuditEventsRequest{Parent: org, Filter: `time >= "2000-01-01T00:00:00Z"`, PageSize: 10})
	if len(got) != 603 || pages < 603/5 {
		t.Errorf("time search: %d events in %d pages, want 603 in at least %d", len(got), pages, 603/5)
	}
	// A condition the index does not decide: short pages, still complete.
	got, _ = listAll(t, f.d, auditor, &auditv1.ListAuditEventsRequest{Parent: org, Filter: `source = directory AND outcome = DENIED`, PageSize: 10})
	if len(got) == 0 {
		t.Error("source and outcome search found nothing")
	}
}

// R29: page tokens belong to one search; filters, orders and tokens that
// are malformed are field errors; another organization is not found.
func TestListErrors(t *testing.T) {
	f := newFixture(t, domain.Options{})
	population(t, f, 20)
	ctx := context.Background()
	resp, err := f.d.ListAuditEvents(ctx, auditor, &auditv1.ListAuditEventsRequest{Parent: org, PageSize: 2, Filter: `source = directory`})
	if err != nil || resp.GetNextPageToken() == "" {
		t.Fatalf("first page: %v, token %q", err, resp.GetNextPageToken())
	}
	tok := resp.GetNextPageToken()
	for _, tc := range []struct {
		req   *auditv1.ListAuditEventsRequest
		field string
	}{
		{&auditv1.ListAuditEventsRequest{Parent: org, PageToken: tok, Filter: `source = access`}, "page_token"},
		{&auditv1.ListAuditEventsRequest{Parent: org, PageToken: tok, Filter: `source = directory`, OrderBy: "time asc"}, "page_token"},
		{&auditv1.ListAuditEventsRequest{Parent: org, PageToken: "garbage"}, "page_token"},
		{&auditv1.ListAuditEventsRequest{Parent: org, Filter: `actor ~ "x"`}, "filter"},
		{&auditv1.ListAuditEventsRequest{Parent: org, OrderBy: "actor"}, "order_by"},
	} {
		_, err := f.d.ListAuditEvents(ctx, auditor, tc.req)
		var fe *records.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("ListAuditEvents(%v) = %v, want a FieldError on %s", tc.req, err, tc.field)
		}
	}
	// The same token with the same search continues (order_by spelled
	// the default way).
	if _, err := f.d.ListAuditEvents(ctx, auditor, &auditv1.ListAuditEventsRequest{Parent: org, PageToken: tok, Filter: `source = directory`, OrderBy: "time  desc"}); err != nil {
		t.Errorf("continuing: %v", err)
	}
	if _, err := f.d.ListAuditEvents(ctx, auditor, &auditv1.ListAuditEventsRequest{Parent: other}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("another organization's list: %v, want ErrNotFound", err)
	}
	if _, err := f.d.GetAuditEvent(ctx, auditor, other+"/auditEvents/0"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("another organization's event: %v, want ErrNotFound", err)
	}
	if ev, err := f.d.GetAuditEvent(ctx, service, other+"/auditEvents/0"); err != nil || ev.GetOrganization() != other {
		t.Errorf("a service reading %s/auditEvents/0: %v, %v", other, ev, err)
	}
	for _, name := range []string{org + "/auditEvents/999", org + "/auditEvents/01", org + "/auditEvents/-1", org + "/auditEvents/x", "installation/auditEvents/0"} {
		if _, err := f.d.GetAuditEvent(ctx, service, name); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("GetAuditEvent(%s) = %v, want ErrNotFound", name, err)
		}
	}
	ev, err := f.d.GetAuditEvent(ctx, auditor, org+"/auditEvents/3")
	if err != nil || ev.GetName() != org+"/auditEvents/3" || ev.GetIndex() != 3 {
		t.Errorf("GetAuditEvent = %v, %v", ev, err)
	}
	if !strings.HasPrefix(ev.GetRequestId(), "req-") {
		t.Errorf("request ID %q", ev.GetRequestId())
	}
}

// Values that share a prefix, or hold the separator bytes, have index
// entries of their own: a search for one never returns another's events.
func TestIndexValuesDoNotCollide(t *testing.T) {
	f := newFixture(t, domain.Options{})
	actors := []string{"a", "a\x00", "a\x00b", "a|b", "a\x00\x00", "ab", "a\u00ff", strings.Repeat("x", 2000), strings.Repeat("x", 2000) + "y"}
	for _, a := range actors {
		f.now = f.now.Add(time.Second)
		f.apply("directory", f.event("directory", "directory.user.updated", org+"/users/u", &eventlogv1.AuditEnvelope{Actor: a}))
	}
	for i, a := range actors {
		filter := `actor = "` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
		got, _ := listAll(t, f.d, auditor, &auditv1.ListAuditEventsRequest{Parent: org, Filter: filter})
		want := []string{fmt.Sprintf("%s/auditEvents/%d", org, i)}
		if !slices.Equal(got, want) {
			t.Errorf("actor %.10q: %q, want %q", a, got, want)
		}
	}
}
