package domain

// Tests of the history (issue 14: R13–R16 asked of a past moment), over
// real bbolt stores and real event logs: access's, and a directory's log
// that a real eventlog.Consumer feeds into the domain, as the server wires
// it.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/catalogue"
)

// htClock is a fake clock that moves 1 ms at every reading, so that no two
// events of either log share a time.
type htClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *htClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

// htWorld is an access service following a directory's log.
type htWorld struct {
	t      *testing.T
	ctx    context.Context
	clock  *htClock
	dir    *bboltstore.Store
	dirLog *eventlog.Log
	path   string
	st     *bboltstore.Store
	log    *eventlog.Log
	s      *Service
	stop   func()
}

// retainAll is a retention that deletes every event no durable consumer
// holds back (Compact in the tests).
var retainAll = eventlog.Retention{MaxAge: time.Nanosecond}

func newHTWorld(t *testing.T) *htWorld {
	t.Helper()
	w := &htWorld{t: t, ctx: context.Background(), clock: &htClock{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}}
	dir := t.TempDir()
	var err error
	w.dir, err = bboltstore.Open(filepath.Join(dir, "directory.db"), bboltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if w.dirLog, err = eventlog.New(w.dir, "directory", eventlog.Options{Clock: w.clock.Now, Retention: retainAll}); err != nil {
		t.Fatal(err)
	}
	w.path = filepath.Join(dir, "access.db")
	w.open()
	t.Cleanup(func() {
		w.close()
		w.dir.Close()
	})
	return w
}

// open opens access's store and starts its domain and feed.
func (w *htWorld) open() {
	t := w.t
	var err error
	if w.st, err = bboltstore.Open(w.path, bboltstore.Options{Unordered: UnorderedKeyRanges}); err != nil {
		t.Fatal(err)
	}
	if w.log, err = eventlog.New(w.st, "access", eventlog.Options{Clock: w.clock.Now, Retention: retainAll}); err != nil {
		t.Fatal(err)
	}
	if w.s, err = New(w.ctx, w.st, w.log, authorizer.New(authorizer.Sizes{}), Options{Clock: w.clock.Now}); err != nil {
		t.Fatal(err)
	}
	feed := &eventlog.Consumer{Name: "access-directory", Store: w.s.FeedStore(), Source: w.dirLog, Apply: w.s.ApplyDirectoryEvent, MinBackoff: time.Millisecond}
	w.s.SetDirectoryFeed(feed)
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = feed.Run(ctx) }()
	w.stop = func() { cancel(); <-done }
}

// close stops the feed and closes access's store (a shutdown).
func (w *htWorld) close() {
	if w.stop != nil {
		w.stop()
		w.stop = nil
		w.st.Close()
	}
}

// emit commits a directory event and waits until access applied it.
func (w *htWorld) emit(typ directoryv1.EventType, resource string, data proto.Message) {
	w.t.Helper()
	ev := dtEvent(w.t, eventlog.TypeName(typ), resource, data)
	var seq uint64
	err := w.dir.Update(w.ctx, func(tx store.Tx) (err error) {
		seq, err = w.dirLog.Append(tx, ev)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	if err := w.s.feed.WaitFor(ctx, seq); err != nil {
		w.t.Fatalf("access did not apply directory event %d (%s): %v", seq, ev.GetType(), err)
	}
}

// head returns access's newest sequence.
func (w *htWorld) head() uint64 {
	w.t.Helper()
	h, err := w.log.Head(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return h
}

// htQuestion is a Check asked after a change, with its live answer.
type htQuestion struct {
	item     authorizer.CheckItem
	allowed  bool
	denial   authorizer.DenyReason
	at       time.Time
	sequence uint64 // the change's last access event, 0 if it had none
}

// htRandom drives random changes through the domain and the directory feed.
type htRandom struct {
	*htWorld
	rng         *rand.Rand
	users       []string
	groups      []string
	folders     []string
	live        map[string]bool // folders that exist
	roles       []string        // custom roles (live or deleted)
	assignments []string
	perms       []string // folder permissions of orchestrator services
	questions   []htQuestion
	service     string
}

const htActorName = "services/test"

var htActor = Actor{Name: htActorName}

func newHTRandom(w *htWorld, seed uint64) *htRandom {
	r := &htRandom{htWorld: w, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), live: map[string]bool{}, service: dtService}
	for _, p := range catalogue.Permissions() {
		if catalogue.ValidateRolePermissions(catalogue.LevelFolder, catalogue.ServiceTypeOrchestrator, []string{p.Name}) == nil {
			r.perms = append(r.perms, p.Name)
		}
	}
	r.perms = r.perms[:min(len(r.perms), 12)]
	for i := range 8 {
		r.users = append(r.users, fmt.Sprintf("%s/users/u%d", dtOrg, i))
	}
	for i := range 3 {
		r.groups = append(r.groups, fmt.Sprintf("%s/groups/g%d", dtOrg, i))
	}
	r.groups = append(r.groups, dtAutoU)
	for i := range 5 {
		r.folders = append(r.folders, fmt.Sprintf("%s/folders/f%d", dtService, i))
	}
	return r
}

// setup creates the organization, its default groups, users, custom
// groups and the service.
func (r *htRandom) setup() {
	r.emit(directoryv1.EventType_EVENT_TYPE_ORGANIZATION_CREATED, dtOrg, &directoryv1.Organization{Name: dtOrg, DisplayName: "Acme"})
	r.emit(directoryv1.EventType_EVENT_TYPE_TENANT_CREATED, dtTenant, &directoryv1.Tenant{Name: dtTenant, DisplayName: "Default"})
	for _, g := range []struct {
		name string
		dg   directoryv1.Group_DefaultGroup
	}{{dtAdmins, directoryv1.Group_DEFAULT_GROUP_ADMINISTRATORS}, {dtAutoU, directoryv1.Group_DEFAULT_GROUP_AUTOMATION_USERS}, {dtEvery, directoryv1.Group_DEFAULT_GROUP_EVERYONE}} {
		r.emit(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED, g.name, &directoryv1.Group{Name: g.name, DisplayName: g.name, Kind: directoryv1.Group_KIND_DEFAULT, DefaultGroup: g.dg})
	}
	for _, u := range r.users {
		r.emit(directoryv1.EventType_EVENT_TYPE_USER_CREATED, u, r.user(u, true))
	}
	for _, g := range r.groups[:3] {
		r.emit(directoryv1.EventType_EVENT_TYPE_GROUP_CREATED, g, &directoryv1.Group{Name: g, DisplayName: g, Kind: directoryv1.Group_KIND_CUSTOM})
	}
	r.emit(directoryv1.EventType_EVENT_TYPE_SERVICE_CREATED, dtService, &directoryv1.Service{Name: dtService, DisplayName: "Finance", Type: "orchestrator", Creator: r.users[0]})
	r.emit(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED, dtShared, &directoryv1.Folder{Name: dtShared, DisplayName: "Shared"})
}

func (r *htRandom) user(name string, active bool) *directoryv1.User {
	state := directoryv1.User_STATE_INACTIVE
	if active {
		state = directoryv1.User_STATE_ACTIVE
	}
	return &directoryv1.User{Name: name, DisplayName: name, Email: "x@acme.example", State: state}
}

func (r *htRandom) pick(list []string) string { return list[r.rng.IntN(len(list))] }

// scope returns a folder (maybe deleted), the Shared folder or the service.
func (r *htRandom) scope() string {
	switch r.rng.IntN(4) {
	case 0:
		return dtService
	case 1:
		return dtShared
	}
	return r.pick(r.folders)
}

// change makes one random change, then records a few questions.
func (r *htRandom) change() {
	before := r.head()
	switch n := r.rng.IntN(100); {
	case n < 20:
		typ := directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_ADDED
		if r.rng.IntN(2) == 0 {
			typ = directoryv1.EventType_EVENT_TYPE_GROUP_MEMBER_REMOVED
		}
		g := r.pick(r.groups)
		r.emit(typ, g, &directoryv1.GroupMembership{Group: g, Member: r.pick(r.users)})
	case n < 30:
		u, active := r.pick(r.users), r.rng.IntN(2) == 0
		typ := directoryv1.EventType_EVENT_TYPE_USER_DEACTIVATED
		if active {
			typ = directoryv1.EventType_EVENT_TYPE_USER_ACTIVATED
		}
		r.emit(typ, u, r.user(u, active))
	case n < 55:
		r.assign()
	case n < 70:
		if len(r.assignments) > 0 {
			_ = r.s.DeleteRoleAssignment(r.ctx, htActor, &accessv1.DeleteRoleAssignmentRequest{Name: r.pick(r.assignments)})
		}
	case n < 85:
		f := r.pick(r.folders)
		if r.live[f] {
			r.emit(directoryv1.EventType_EVENT_TYPE_FOLDER_DELETED, f, &directoryv1.Folder{Name: f})
		} else {
			r.emit(directoryv1.EventType_EVENT_TYPE_FOLDER_CREATED, f, &directoryv1.Folder{Name: f, DisplayName: f})
		}
		r.live[f] = !r.live[f]
	default:
		r.editRole()
	}
	var seq uint64
	if h := r.head(); h != before {
		seq = h
	}
	r.ask(seq)
}

// assign assigns a built-in or custom folder role.
func (r *htRandom) assign() {
	role := "roles/" + catalogue.RoleAutomationUser
	if len(r.roles) > 0 && r.rng.IntN(2) == 0 {
		role = r.pick(r.roles)
	}
	principals := append(append([]string(nil), r.users...), r.groups...)
	resp, err := r.s.CreateRoleAssignment(r.ctx, htActor, &accessv1.CreateRoleAssignmentRequest{
		Parent: dtOrg, Principal: r.pick(principals), Scope: r.scope(), Roles: []string{role},
	})
	if err == nil {
		for _, a := range resp.GetRoleAssignments() {
			r.assignments = append(r.assignments, a.GetName())
		}
	}
}

// editRole creates, edits or deletes a custom folder role.
func (r *htRandom) editRole() {
	perms := []string{r.pick(r.perms), r.pick(r.perms)}
	if perms[0] == perms[1] {
		perms = perms[:1]
	}
	switch k := r.rng.IntN(3); {
	case k == 0 || len(r.roles) == 0:
		role, err := r.s.CreateRole(r.ctx, htActor, &accessv1.CreateRoleRequest{Parent: dtOrg, RoleId: fmt.Sprintf("c%d", len(r.roles)),
			Role: &accessv1.Role{DisplayName: "custom", Level: accessv1.Level(catalogue.LevelFolder), ServiceType: catalogue.ServiceTypeOrchestrator, Permissions: perms}})
		if err != nil {
			r.t.Fatalf("CreateRole: %v", err)
		}
		r.roles = append(r.roles, role.GetName())
	case k == 1:
		_, _ = r.s.UpdateRole(r.ctx, htActor, &accessv1.UpdateRoleRequest{
			Role: &accessv1.Role{Name: r.pick(r.roles), Permissions: perms}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"permissions"}},
		})
	default:
		_ = r.s.DeleteRole(r.ctx, htActor, &accessv1.DeleteRoleRequest{Name: r.pick(r.roles)})
	}
}

// ask records three random questions with the live model's answers.
func (r *htRandom) ask(seq uint64) {
	at := r.clock.Now()
	principals := append(append([]string(nil), r.users...), r.groups...)
	for range 3 {
		item := authorizer.CheckItem{Principal: r.pick(principals), Permission: r.pick(r.perms), Scope: r.scope()}
		d := r.s.Model().Check(item.Principal, item.Permission, item.Scope)
		r.questions = append(r.questions, htQuestion{item: item, allowed: d.Allowed, denial: d.Denial, at: at, sequence: seq})
	}
}

// verify asks every question from from on again of the history, as of
// its time and as of its sequence, and requires the live answers.
func (r *htRandom) verify(questions []htQuestion) {
	r.t.Helper()
	bad := 0
	for i, q := range questions {
		ats := []AsOf{{Time: q.at}}
		if q.sequence != 0 {
			ats = append(ats, AsOf{Sequence: q.sequence})
		}
		for _, at := range ats {
			m, _, err := r.s.ModelAt(r.ctx, at)
			if err != nil {
				r.t.Fatalf("question %d: ModelAt(%+v): %v", i, at, err)
			}
			d := m.Check(q.item.Principal, q.item.Permission, q.item.Scope)
			if d.Allowed != q.allowed || d.Denial != q.denial {
				bad++
				if bad <= 10 {
					r.t.Errorf("question %d as of %+v: %s %s at %s: history says %v (%s), live said %v (%s)",
						i, at, q.item.Principal, q.item.Permission, q.item.Scope, d.Allowed, d.Denial, q.allowed, q.denial)
				}
			}
		}
	}
	if bad > 0 {
		r.t.Fatalf("%d of %d answers differ", bad, len(questions))
	}
}

// TestHistoryAgreesWithLive (issue 14, R13–R16 of the past): thousands of
// random changes — memberships, user (de)activations, assignments, folders
// created and deleted, custom roles created, edited and deleted — each
// followed by live Checks; every one asked again of ModelAt as of its time
// and as of its access sequence answers the same.
func TestHistoryAgreesWithLive(t *testing.T) {
	w := newHTWorld(t)
	if err := w.s.RollHistory(w.ctx, DefaultHistoryRetention); err != nil {
		t.Fatal(err)
	}
	r := newHTRandom(w, 14)
	r.setup()
	changes := 2000
	if testing.Short() {
		changes = 300
	}
	for range changes {
		r.change()
	}
	withSeq, allowed := 0, 0
	for _, q := range r.questions {
		if q.sequence != 0 {
			withSeq++
		}
		if q.allowed {
			allowed++
		}
	}
	if allowed < len(r.questions)/20 || allowed > len(r.questions)*19/20 {
		t.Fatalf("%d of %d questions allowed: too one-sided to tell", allowed, len(r.questions))
	}
	if withSeq < len(r.questions)/4 {
		t.Fatalf("only %d of %d questions follow access events", withSeq, len(r.questions))
	}
	start := time.Now()
	r.verify(r.questions)
	t.Logf("%d changes, %d questions (%d with a sequence, %d allowed) verified in %v", changes, len(r.questions), withSeq, allowed, time.Since(start))
}

// TestHistoryRollsForward (issue 14): folding the events older than the
// retention into the base persists it and acknowledges both logs up to it
// (their retention then keeps every later event); moments before it are
// unavailable with the base's time as Earliest, later ones still agree
// with what was live, also after a restart over the same store.
func TestHistoryRollsForward(t *testing.T) {
	w := newHTWorld(t)
	if err := w.s.RollHistory(w.ctx, DefaultHistoryRetention); err != nil {
		t.Fatal(err)
	}
	r := newHTRandom(w, 15)
	r.setup()
	for range 300 {
		r.change()
	}
	mid := r.questions[len(r.questions)/2]
	// The retention that makes mid's moment the cutoff.
	retention := w.clock.Now().Sub(mid.at) + time.Millisecond // RollHistory reads the clock once more
	if err := w.s.RollHistory(w.ctx, retention); err != nil {
		t.Fatal(err)
	}
	base, ok, err := w.s.readBaseMeta(w.ctx)
	if err != nil || !ok {
		t.Fatalf("base: %v %v", ok, err)
	}
	if !base.Time.Equal(mid.at) {
		t.Fatalf("base time %v, want %v", base.Time, mid.at)
	}
	t.Logf("base: %d assignments, %d principals, %d scopes in %d bytes (%d chunks)", base.Sizes.Assignments, base.Sizes.Principals, base.Sizes.Scopes, base.Bytes, base.Chunks)

	// Retention deletes what the base absorbed, and nothing after it.
	for _, l := range []struct {
		log  *eventlog.Log
		want uint64
	}{{w.log, base.Access.Sequence}, {w.dirLog, base.Directory.Sequence}} {
		if _, err := l.log.Compact(w.ctx); err != nil {
			t.Fatal(err)
		}
		if h, err := l.log.Horizon(w.ctx); err != nil || h != l.want {
			t.Errorf("%s horizon %d (%v), want the base's %d", l.log.Source(), h, err, l.want)
		}
	}

	var before, after []htQuestion
	for _, q := range r.questions {
		if q.at.Before(base.Time) {
			before = append(before, q)
		} else {
			after = append(after, q)
		}
	}
	for _, q := range before[:10] {
		_, _, err := w.s.ModelAt(w.ctx, AsOf{Time: q.at})
		var he *HistoryUnavailableError
		if !errors.As(err, &he) || !errors.Is(err, ErrHistoryUnavailable) || !he.Earliest.Equal(base.Time) {
			t.Fatalf("as of %v, before the base: %v, want HistoryUnavailable from %v", q.at, err, base.Time)
		}
	}
	for _, q := range before {
		if q.sequence != 0 {
			if _, _, err := w.s.ModelAt(w.ctx, AsOf{Sequence: q.sequence}); !errors.Is(err, ErrHistoryUnavailable) {
				t.Fatalf("as of sequence %d, before the base: %v", q.sequence, err)
			}
			break
		}
	}
	r.verify(after)

	// A restart: a new Service over the same store reads the base back.
	w.close()
	w.open()
	r.verify(after)
	// More changes after the restart agree too.
	n := len(r.questions)
	for range 50 {
		r.change()
	}
	r.verify(r.questions[n:])
}

// TestHistoryErrors (issue 14): no base yet, a time in the future, a
// sequence past the head and an AsOf with both or neither field.
func TestHistoryErrors(t *testing.T) {
	w := newHTWorld(t)
	now := w.clock.Now()
	_, _, err := w.s.ModelAt(w.ctx, AsOf{Time: now})
	var he *HistoryUnavailableError
	if !errors.As(err, &he) || !he.Earliest.IsZero() || MetadataOf(err)["earliest"] != "" {
		t.Fatalf("before any base: %v, want HistoryUnavailable without Earliest", err)
	}
	if err := w.s.RollHistory(w.ctx, DefaultHistoryRetention); err != nil {
		t.Fatal(err)
	}
	for _, at := range []AsOf{{Time: now.Add(time.Hour)}, {Sequence: 1}, {}, {Time: now, Sequence: 1}} {
		_, _, err := w.s.ModelAt(w.ctx, at)
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("ModelAt(%+v): %v, want a field error", at, err)
		}
	}
	// The full history answers for any past time, even before the first
	// event: the empty model.
	m, p, err := w.s.ModelAt(w.ctx, AsOf{Time: now.Add(-time.Hour)})
	if err != nil || m.Stats().Assignments != 0 || p.Sequence != 0 {
		t.Fatalf("before the first event: %v %+v %v", m, p, err)
	}
}

// TestHistoryResetAfterResync (issue 14): a resync from the directory's
// snapshot makes the history restart from the current state; Earliest
// moves to that moment, and the state then agrees with the live one.
func TestHistoryResetAfterResync(t *testing.T) {
	w := newHTWorld(t)
	if err := w.s.RollHistory(w.ctx, DefaultHistoryRetention); err != nil {
		t.Fatal(err)
	}
	r := newHTRandom(w, 16)
	r.setup()
	for range 50 {
		r.change()
	}
	pos, err := w.dirLog.HeadPosition(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	records := []proto.Message{&directoryv1.Organization{Name: dtOrg, DisplayName: "Acme"}}
	w.stop()
	if err := w.s.ResyncDirectory(w.ctx, "access-directory", pos, records); err != nil {
		t.Fatal(err)
	}
	if err := w.s.RollHistory(w.ctx, DefaultHistoryRetention); err != nil {
		t.Fatal(err)
	}
	base, _, err := w.s.readBaseMeta(w.ctx)
	if err != nil || base.Time.IsZero() || base.Directory.Sequence != pos.Sequence {
		t.Fatalf("base after a resync: %+v %v", base, err)
	}
	if _, _, err := w.s.ModelAt(w.ctx, AsOf{Time: r.questions[0].at}); !errors.Is(err, ErrHistoryUnavailable) {
		t.Fatalf("before the resync: %v", err)
	}
	r.questions = nil
	r.ask(0)
	r.verify(r.questions)
}
