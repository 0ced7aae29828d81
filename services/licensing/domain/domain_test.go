package domain_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	directoryv1 "steward.dev/gen/steward/directory/v1"
	eventlogv1 "steward.dev/gen/steward/eventlog/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/licensing/domain"
)

// start is the fixed "now" of the tests.
var start = time.Date(2027, 3, 1, 12, 0, 0, 0, time.UTC)

// The organization of the tests and who acts in it.
const org = "organizations/o1"

var (
	// operator acts as the installation's operator.
	operator = domain.Actor{Name: "services/operator", DisplayName: "operator"}
	// owner acts as the owner of org.
	owner = domain.Actor{Name: org + "/users/owner", Organization: org}
)

// fixture is a domain service over a fresh store with a settable clock.
type fixture struct {
	t   *testing.T
	st  store.Store
	log *eventlog.Log
	d   *domain.Service
	now time.Time
}

func newFixture(t *testing.T, opts domain.Options) *fixture {
	t.Helper()
	st, err := bboltstore.Open(filepath.Join(t.TempDir(), "licensing.db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.New(st, "licensing", eventlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = log.Close()
		_ = st.Close()
	})
	f := &fixture{t: t, st: st, log: log, now: start}
	opts.Clock = func() time.Time { return f.now }
	f.d = domain.New(st, log, opts)
	f.apply(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED, org, &directoryv1.Organization{Name: org})
	return f
}

// apply applies a directory event of type typ about resource; data is the
// event's record, nil for a deletion.
func (f *fixture) apply(typ directoryv1.EventType, resource string, data proto.Message) {
	f.t.Helper()
	op := eventlogv1.Operation_OPERATION_CREATE
	if data == nil {
		op = eventlogv1.Operation_OPERATION_DELETE
	}
	ev, err := eventlog.NewEvent(eventlog.TypeName(typ), op, resource, data, &eventlogv1.AuditEnvelope{})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.Update(context.Background(), func(tx store.Tx) error { return f.d.ApplyDirectoryEvent(tx, ev) }); err != nil {
		f.t.Fatalf("applying %s: %v", typ, err)
	}
}

// user makes user id of org known, active or not.
func (f *fixture) user(id string, active bool) string {
	f.t.Helper()
	name := org + "/users/" + id
	state := directoryv1.User_STATE_ACTIVE
	if !active {
		state = directoryv1.User_STATE_INACTIVE
	}
	f.apply(directoryv1.EventType_EVENT_TYPE_USER_CREATED, name, &directoryv1.User{Name: name, State: state})
	return name
}

// pool makes a pool of org as the operator.
func (f *fixture) pool(id string, product licensingv1.Product, edition string, model licensingv1.LicenseModel, quantity int32, from, until time.Time) string {
	f.t.Helper()
	p, err := f.d.CreateLicensePool(context.Background(), operator, &licensingv1.CreateLicensePoolRequest{Parent: org, LicensePoolId: id,
		LicensePool: &licensingv1.LicensePool{Product: product, Edition: edition, Model: model, Quantity: quantity,
			ValidFrom: timestamppb.New(from), ValidUntil: timestamppb.New(until)}})
	if err != nil {
		f.t.Fatalf("CreateLicensePool %s: %v", id, err)
	}
	return p.GetName()
}

// assign gives member a license of pool as the owner.
func (f *fixture) assign(pool, member string) (*licensingv1.LicenseAssignment, error) {
	return f.d.AssignLicense(context.Background(), owner, &licensingv1.AssignLicenseRequest{Parent: org,
		LicenseAssignment: &licensingv1.LicenseAssignment{Pool: pool, Member: member}})
}

// usage returns pool's usage.
func (f *fixture) usage(pool string) *licensingv1.PoolUsage {
	f.t.Helper()
	u, err := f.d.GetLicenseUsage(context.Background(), owner, &licensingv1.GetLicenseUsageRequest{Name: org + "/licenseUsage", Pool: pool})
	if err != nil || len(u.GetPools()) != 1 {
		f.t.Fatalf("GetLicenseUsage %s: %v, %v", pool, u, err)
	}
	return u.GetPools()[0]
}

// events returns the types of the events of the licensing log.
func (f *fixture) events() []string {
	f.t.Helper()
	evs, err := f.log.Read(context.Background(), 0, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.GetType())
	}
	return out
}

const (
	robot  = licensingv1.Product_PRODUCT_ROBOT
	editor = licensingv1.Product_PRODUCT_EDITOR
	named  = licensingv1.LicenseModel_LICENSE_MODEL_NAMED
)

var (
	yearLater = start.Add(365 * 24 * time.Hour)
	dayBefore = start.Add(-24 * time.Hour)
)

// TestTrialPool: sign-up gives a new organization its trial pools, sized
// and dated as configured (R21).
func TestTrialPool(t *testing.T) {
	tests := []struct {
		name   string
		trial  domain.Trial
		robot  int32
		editor int32
		valid  time.Duration
	}{
		{name: "default: 2 Professional robot and 2 editor seats for 30 days", robot: 2, editor: 2, valid: 30 * 24 * time.Hour},
		{name: "configured", trial: domain.Trial{RobotSeats: 5, EditorSeats: 0, Edition: "basic", Validity: 7 * 24 * time.Hour}, robot: 5, valid: 7 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, domain.Options{Trial: tt.trial})
			pools, err := f.d.ListLicensePools(context.Background(), owner, &licensingv1.ListLicensePoolsRequest{Parent: org})
			if err != nil {
				t.Fatal(err)
			}
			got := map[licensingv1.Product]*licensingv1.LicensePool{}
			for _, p := range pools.GetLicensePools() {
				got[p.GetProduct()] = p
				if !p.GetTrial() || p.GetModel() != named || !p.GetValidUntil().AsTime().Equal(start.Add(tt.valid)) {
					t.Errorf("trial pool %v: want a named trial pool valid until %v", p, start.Add(tt.valid))
				}
			}
			if got[robot].GetQuantity() != tt.robot || got[editor].GetQuantity() != tt.editor {
				t.Errorf("trial seats: robot %d, editor %d; want %d, %d", got[robot].GetQuantity(), got[editor].GetQuantity(), tt.robot, tt.editor)
			}
			if tt.trial == (domain.Trial{}) && got[robot].GetEdition() != domain.EditionProfessional {
				t.Errorf("default trial edition %q, want professional", got[robot].GetEdition())
			}
			// Sign-up seen twice (a replayed event) gives nothing more.
			f.apply(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED, org, &directoryv1.Organization{Name: org})
			again, _ := f.d.ListLicensePools(context.Background(), owner, &licensingv1.ListLicensePoolsRequest{Parent: org})
			if len(again.GetLicensePools()) != len(pools.GetLicensePools()) {
				t.Errorf("second sign-up event: %d pools, want %d", len(again.GetLicensePools()), len(pools.GetLicensePools()))
			}
		})
	}
}

// TestAssignLicense: one member at a time; a pool never hands out more
// seats than it holds; expired pools hand out nothing (R21, R22).
func TestAssignLicense(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(f *fixture) (pool, member string)
		wantErr error
		field   string
	}{
		{name: "free seat", setup: func(f *fixture) (string, string) {
			return f.pool("p", robot, "basic", named, 1, dayBefore, yearLater), f.user("u1", true)
		}},
		{name: "R22 pool exhausted", setup: func(f *fixture) (string, string) {
			p := f.pool("p", robot, "basic", named, 1, dayBefore, yearLater)
			if _, err := f.assign(p, f.user("u0", true)); err != nil {
				f.t.Fatal(err)
			}
			return p, f.user("u1", true)
		}, wantErr: domain.ErrPoolExhausted},
		{name: "R21 pool expired", setup: func(f *fixture) (string, string) {
			return f.pool("p", robot, "basic", named, 5, dayBefore.Add(-time.Hour), dayBefore), f.user("u1", true)
		}, wantErr: domain.ErrPoolExpired},
		{name: "R21 pool not yet valid", setup: func(f *fixture) (string, string) {
			return f.pool("p", robot, "basic", named, 5, yearLater, yearLater.Add(time.Hour)), f.user("u1", true)
		}, wantErr: domain.ErrPoolNotYetValid},
		{name: "concurrent pools are leased, not assigned", setup: func(f *fixture) (string, string) {
			return f.pool("p", robot, "basic", licensingv1.LicenseModel_LICENSE_MODEL_CONCURRENT, 5, dayBefore, yearLater), f.user("u1", true)
		}, field: "pool"},
		{name: "unknown member", setup: func(f *fixture) (string, string) {
			return f.pool("p", robot, "basic", named, 5, dayBefore, yearLater), org + "/users/ghost"
		}, wantErr: domain.ErrNotFound},
		{name: "deactivated member", setup: func(f *fixture) (string, string) {
			return f.pool("p", robot, "basic", named, 5, dayBefore, yearLater), f.user("u1", false)
		}, wantErr: domain.ErrMemberInactive},
		{name: "already holds it", setup: func(f *fixture) (string, string) {
			p, u := f.pool("p", robot, "basic", named, 5, dayBefore, yearLater), f.user("u1", true)
			if _, err := f.assign(p, u); err != nil {
				f.t.Fatal(err)
			}
			return p, u
		}, wantErr: domain.ErrAlreadyAssigned},
		{name: "pool of another organization", setup: func(f *fixture) (string, string) {
			return "organizations/o2/licensePools/p", f.user("u1", true)
		}, field: "license_assignment.pool"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, domain.Options{})
			pool, member := tt.setup(f)
			before := len(f.events())
			a, err := f.assign(pool, member)
			var fe *domain.FieldError
			switch {
			case tt.field != "":
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Fatalf("AssignLicense: %v, want a field error on %s", err, tt.field)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("AssignLicense: %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("AssignLicense: %v", err)
			default:
				if a.GetPool() != pool || a.GetMember() != member || a.GetProduct() != robot {
					t.Errorf("assignment %v", a)
				}
				if u := f.usage(pool); u.GetAssigned() != 1 || u.GetFree() != u.GetQuantity()-1 {
					t.Errorf("usage %v, want 1 assigned", u)
				}
				return
			}
			if after := len(f.events()); after != before {
				t.Errorf("a refused assignment appended %d events", after-before)
			}
		})
	}
}

// TestChangeLicense: assigning a license of another pool of the same
// product moves the member's seat (R22); unassigning frees it.
func TestChangeLicense(t *testing.T) {
	f := newFixture(t, domain.Options{})
	basic := f.pool("basic", robot, "basic", named, 1, dayBefore, yearLater)
	pro := f.pool("pro", robot, domain.EditionProfessional, named, 1, dayBefore, yearLater)
	u := f.user("u1", true)
	first, err := f.assign(basic, u)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := f.assign(pro, u)
	if err != nil {
		t.Fatal(err)
	}
	if moved.GetName() != first.GetName() || moved.GetPool() != pro {
		t.Errorf("moved assignment %v, want %s in %s", moved, first.GetName(), pro)
	}
	if b, p := f.usage(basic), f.usage(pro); b.GetAssigned() != 0 || p.GetAssigned() != 1 {
		t.Errorf("after the move: basic %d assigned, pro %d; want 0, 1", b.GetAssigned(), p.GetAssigned())
	}
	if err := f.d.UnassignLicense(context.Background(), owner, &licensingv1.UnassignLicenseRequest{Name: moved.GetName(), Etag: "stale"}); !errors.Is(err, domain.ErrEtagMismatch) {
		t.Errorf("unassign with a stale etag: %v, want ErrEtagMismatch", err)
	}
	if err := f.d.UnassignLicense(context.Background(), owner, &licensingv1.UnassignLicenseRequest{Name: moved.GetName()}); err != nil {
		t.Fatal(err)
	}
	if p := f.usage(pro); p.GetAssigned() != 0 || p.GetFree() != 1 {
		t.Errorf("after unassigning: %v", p)
	}
}

// TestBatchAssign: batch takes Professional pools only, and is all or
// nothing with a per-member list of refusals (R22).
func TestBatchAssign(t *testing.T) {
	tests := []struct {
		name     string
		edition  string
		quantity int32
		members  []string
		wantErr  error
		refused  []string
	}{
		{name: "professional", edition: domain.EditionProfessional, quantity: 3, members: []string{"a", "b", "c"}},
		{name: "basic is refused", edition: "basic", quantity: 3, members: []string{"a"}, wantErr: domain.ErrBatchRequiresProfessional},
		{name: "too few seats", edition: domain.EditionProfessional, quantity: 2, members: []string{"a", "b", "c"}, wantErr: domain.ErrPoolExhausted},
		{name: "unknown and inactive members", edition: domain.EditionProfessional, quantity: 5, members: []string{"a", "ghost", "off"},
			wantErr: domain.ErrBatchRefused, refused: []string{org + "/users/ghost", org + "/users/off"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, domain.Options{})
			pool := f.pool("p", robot, tt.edition, named, tt.quantity, dayBefore, yearLater)
			var members []string
			for _, m := range tt.members {
				switch m {
				case "ghost":
					members = append(members, org+"/users/ghost")
				case "off":
					members = append(members, f.user(m, false))
				default:
					members = append(members, f.user(m, true))
				}
			}
			resp, err := f.d.BatchAssignLicenses(context.Background(), owner, &licensingv1.BatchAssignLicensesRequest{Parent: org, Pool: pool, Members: members})
			if tt.wantErr == nil {
				if err != nil || len(resp.GetLicenseAssignments()) != len(members) {
					t.Fatalf("BatchAssignLicenses: %v, %v", resp, err)
				}
				if u := f.usage(pool); u.GetAssigned() != int32(len(members)) {
					t.Errorf("usage %v", u)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("BatchAssignLicenses: %v, want %v", err, tt.wantErr)
			}
			var refused []string
			for _, v := range domain.ViolationsOf(err) {
				refused = append(refused, v.Subject)
			}
			if len(refused) != len(tt.refused) || (len(refused) > 0 && (refused[0] != tt.refused[0] || refused[1] != tt.refused[1])) {
				t.Errorf("refused members %v, want %v", refused, tt.refused)
			}
			if u := f.usage(pool); u.GetAssigned() != 0 {
				t.Errorf("a refused batch assigned %d seats: all or nothing", u.GetAssigned())
			}
		})
	}
}

// TestLicenseRequests: owner and administrators ask; the operator fulfils,
// which changes or creates the pool, or rejects (R21).
func TestLicenseRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		req   func(pool string) *licensingv1.LicenseRequest
		check func(t *testing.T, f *fixture, r *licensingv1.LicenseRequest)
	}{
		{name: "more seats", req: func(pool string) *licensingv1.LicenseRequest {
			return &licensingv1.LicenseRequest{Kind: licensingv1.LicenseRequest_KIND_ADD_SEATS, Pool: pool, Quantity: 3}
		}, check: func(t *testing.T, f *fixture, r *licensingv1.LicenseRequest) {
			if u := f.usage(r.GetPool()); u.GetQuantity() != 5 {
				t.Errorf("quantity %d after adding 3 to 2", u.GetQuantity())
			}
		}},
		{name: "renewal", req: func(pool string) *licensingv1.LicenseRequest {
			return &licensingv1.LicenseRequest{Kind: licensingv1.LicenseRequest_KIND_RENEWAL, Pool: pool, ValidUntil: timestamppb.New(yearLater)}
		}, check: func(t *testing.T, f *fixture, r *licensingv1.LicenseRequest) {
			p, _ := f.d.GetLicensePool(ctx, owner, &licensingv1.GetLicensePoolRequest{Name: r.GetPool()})
			if !p.GetValidUntil().AsTime().Equal(yearLater) {
				t.Errorf("valid until %v after renewal", p.GetValidUntil().AsTime())
			}
		}},
		{name: "new pool", req: func(string) *licensingv1.LicenseRequest {
			return &licensingv1.LicenseRequest{Kind: licensingv1.LicenseRequest_KIND_NEW_POOL, Product: editor, Edition: "basic", Model: named,
				Quantity: 7, ValidUntil: timestamppb.New(yearLater)}
		}, check: func(t *testing.T, f *fixture, r *licensingv1.LicenseRequest) {
			if u := f.usage(r.GetPool()); u.GetQuantity() != 7 || u.GetProduct() != editor {
				t.Errorf("new pool %v", u)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, domain.Options{})
			r, err := f.d.CreateLicenseRequest(ctx, owner, &licensingv1.CreateLicenseRequestRequest{Parent: org, LicenseRequest: tt.req(org + "/licensePools/trial-robot")})
			if err != nil {
				t.Fatal(err)
			}
			if r.GetState() != licensingv1.LicenseRequest_STATE_PENDING || r.GetRequester() != owner.Name {
				t.Errorf("request %v", r)
			}
			done, err := f.d.FulfillLicenseRequest(ctx, operator, &licensingv1.FulfillLicenseRequestRequest{Name: r.GetName(), DecisionNote: "ok"})
			if err != nil {
				t.Fatal(err)
			}
			if done.GetState() != licensingv1.LicenseRequest_STATE_FULFILLED || done.GetPool() == "" {
				t.Errorf("fulfilled request %v", done)
			}
			tt.check(t, f, done)
			if _, err := f.d.RejectLicenseRequest(ctx, operator, &licensingv1.RejectLicenseRequestRequest{Name: r.GetName(), DecisionNote: "no"}); !errors.Is(err, domain.ErrRequestNotPending) {
				t.Errorf("rejecting a fulfilled request: %v, want ErrRequestNotPending", err)
			}
		})
	}

	t.Run("rejected", func(t *testing.T) {
		f := newFixture(t, domain.Options{})
		r, err := f.d.CreateLicenseRequest(ctx, owner, &licensingv1.CreateLicenseRequestRequest{Parent: org,
			LicenseRequest: &licensingv1.LicenseRequest{Kind: licensingv1.LicenseRequest_KIND_ADD_SEATS, Pool: org + "/licensePools/trial-robot", Quantity: 100}})
		if err != nil {
			t.Fatal(err)
		}
		done, err := f.d.RejectLicenseRequest(ctx, operator, &licensingv1.RejectLicenseRequestRequest{Name: r.GetName(), DecisionNote: "too many"})
		if err != nil || done.GetState() != licensingv1.LicenseRequest_STATE_REJECTED || done.GetDecisionNote() != "too many" {
			t.Fatalf("RejectLicenseRequest: %v, %v", done, err)
		}
		if u := f.usage(org + "/licensePools/trial-robot"); u.GetQuantity() != 2 {
			t.Errorf("a rejected request changed the pool: %v", u)
		}
		all, err := f.d.ListLicenseRequests(ctx, operator, &licensingv1.ListLicenseRequestsRequest{Parent: "organizations/-",
			State: licensingv1.LicenseRequest_STATE_REJECTED})
		if err != nil || len(all.GetLicenseRequests()) != 1 {
			t.Errorf("operator listing rejected requests: %v, %v", all, err)
		}
	})

	t.Run("an organization sees only its own", func(t *testing.T) {
		f := newFixture(t, domain.Options{})
		_, err := f.d.ListLicenseRequests(ctx, owner, &licensingv1.ListLicenseRequestsRequest{Parent: "organizations/-"})
		if !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("a member listing every organization's requests: %v, want ErrNotFound", err)
		}
	})
}

// TestPoolQuantity: the operator cannot shrink a pool below its seats
// handed out (R21, R22).
func TestPoolQuantity(t *testing.T) {
	f := newFixture(t, domain.Options{})
	pool := f.pool("p", robot, "basic", named, 2, dayBefore, yearLater)
	for _, u := range []string{"a", "b"} {
		if _, err := f.assign(pool, f.user(u, true)); err != nil {
			t.Fatal(err)
		}
	}
	update := func(q int32) error {
		_, err := f.d.UpdateLicensePool(context.Background(), operator, &licensingv1.UpdateLicensePoolRequest{
			LicensePool: &licensingv1.LicensePool{Name: pool, Quantity: q}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"quantity"}}})
		return err
	}
	if err := update(1); !errors.Is(err, domain.ErrQuantityBelowAssigned) {
		t.Errorf("quantity 1 with 2 assigned: %v, want ErrQuantityBelowAssigned", err)
	}
	if err := update(4); err != nil {
		t.Errorf("quantity 4: %v", err)
	}
	if u := f.usage(pool); u.GetQuantity() != 4 || u.GetFree() != 2 {
		t.Errorf("usage %v", u)
	}
	// R21: once expired, the pool hands out nothing and says so.
	f.now = yearLater
	if u := f.usage(pool); !u.GetExpired() || u.GetFree() != 0 {
		t.Errorf("usage of an expired pool %v", u)
	}
}

// TestMemberDeleted: a deleted member's licenses are released, each with
// an event (R22; an account-system switch deletes every user but the
// owner, R8).
func TestMemberDeleted(t *testing.T) {
	f := newFixture(t, domain.Options{})
	u := f.user("u1", true)
	for _, p := range []string{org + "/licensePools/trial-robot", org + "/licensePools/trial-editor"} {
		if _, err := f.assign(p, u); err != nil {
			t.Fatal(err)
		}
	}
	before := len(f.events())
	f.apply(directoryv1.EventType_EVENT_TYPE_USER_DELETED, u, nil)
	evs := f.events()[before:]
	if len(evs) != 2 || evs[0] != domain.TypeLicenseUnassigned || evs[1] != domain.TypeLicenseUnassigned {
		t.Errorf("events after the deletion: %v, want two %s", evs, domain.TypeLicenseUnassigned)
	}
	if r := f.usage(org + "/licensePools/trial-robot"); r.GetAssigned() != 0 {
		t.Errorf("robot seats still assigned: %v", r)
	}
	if _, err := f.assign(org+"/licensePools/trial-robot", u); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("assigning to the deleted member: %v, want ErrNotFound", err)
	}
}

// TestDirectoryRefusalsIgnored: the directory's records of refused calls
// (directory.call.refused, R27) change nothing in licensing, even when
// they name a member.
func TestDirectoryRefusalsIgnored(t *testing.T) {
	f := newFixture(t, domain.Options{})
	u := f.user("u1", true)
	if _, err := f.assign(org+"/licensePools/trial-robot", u); err != nil {
		t.Fatal(err)
	}
	before := len(f.events())
	for _, op := range []eventlogv1.Operation{eventlogv1.Operation_OPERATION_UNSPECIFIED, eventlogv1.Operation_OPERATION_DELETE} {
		ev := &eventlogv1.Event{Type: eventlog.TypeName(directoryv1.EventType_EVENT_TYPE_CALL_REFUSED), Resource: u, Organization: org, Operation: op,
			Audit: &eventlogv1.AuditEnvelope{Actor: u, Action: "DeleteUser", Outcome: eventlogv1.Outcome_OUTCOME_DENIED}}
		if err := f.st.Update(context.Background(), func(tx store.Tx) error { return f.d.ApplyDirectoryEvent(tx, ev) }); err != nil {
			t.Fatalf("applying a refusal: %v", err)
		}
	}
	if evs := f.events()[before:]; len(evs) != 0 {
		t.Errorf("a refusal made events %v", evs)
	}
	if r := f.usage(org + "/licensePools/trial-robot"); r.GetAssigned() != 1 {
		t.Errorf("usage after a refusal: %v, want the license kept", r)
	}
}
