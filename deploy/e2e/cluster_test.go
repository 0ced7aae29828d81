//go:build e2e

package e2e_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"steward.dev/deploy/linearizable"
	accessv1 "steward.dev/gen/steward/access/v1"
	auditv1 "steward.dev/gen/steward/audit/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
	licensingv1 "steward.dev/gen/steward/licensing/v1"
	"steward.dev/pkg/grpcclient"
)

// clusterSuite is steward-local in cluster mode: three etcd members and two
// replicas of each backend (issue 17, R32).
type clusterSuite struct {
	*suite
	replicas map[string][]string // each backend's replicas' gRPC addresses
	pids     map[string]int      // by process name: "etcd2", "access-1", ...
}

// launchCluster starts steward-local -etcd-members 3 -replicas 2 on a block of
// free loopback ports and waits for its banner.
func launchCluster(t *testing.T) *clusterSuite {
	t.Helper()
	bin := os.Getenv("STEWARD_BIN")
	if bin == "" {
		t.Fatal("STEWARD_BIN must name the directory of the built binaries (make test-e2e sets it)")
	}
	// Ports base+0..3 gRPC, base+4..7 metrics, replica 2 at +10, the
	// gateway at +20, etcd clients and peers at +30..35.
	base := freeBlock(t, 40)
	port := func(off int) string { return "127.0.0.1:" + strconv.Itoa(base+off) }
	s := &clusterSuite{
		suite: &suite{t: t, out: &syncBuffer{}, dataDir: filepath.Join(t.TempDir(), "data"),
			addrs: map[string]string{"gateway": port(20)}, metrics: map[string]string{}, done: make(chan struct{})},
		replicas: map[string][]string{},
	}
	args := []string{"--bin-dir", bin, "--data-dir", s.dataDir, "--gateway-addr", s.addrs["gateway"],
		"--etcd-members", "3", "--etcd-port", strconv.Itoa(base + 30), "--replicas", "2", "--replica-port-step", "10",
		"--ready-timeout", "90s", "--stop-timeout", "15s", "--service-flag", "audit=-checkpoint-interval=1s"}
	for i, name := range backends {
		s.addrs[name], s.metrics[name] = port(i), port(4+i)
		s.replicas[name] = []string{port(i), port(10 + i)}
		args = append(args, "--"+name+"-addr", port(i), "--"+name+"-metrics-addr", port(4+i))
	}
	s.start(bin, args, 2*time.Minute)
	s.pids = map[string]int{}
	for _, m := range regexp.MustCompile(`started (\S+) \(pid (\d+)\)`).FindAllStringSubmatch(s.out.String(), -1) {
		s.pids[m[1]], _ = strconv.Atoi(m[2])
	}
	if len(s.pids) != 3+2*len(backends)+1 {
		t.Fatalf("processes %v, want 3 etcd members, 2 replicas of each backend and the gateway", s.pids)
	}
	return s
}

// freeBlock returns the first port of n consecutive loopback ports that were
// free a moment ago.
func freeBlock(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(30000)
		var lis []net.Listener
		for i := range n {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				break
			}
			lis = append(lis, l)
		}
		for _, l := range lis {
			l.Close()
		}
		if len(lis) == n {
			return base
		}
	}
	t.Fatalf("no block of %d free ports", n)
	return 0
}

// kill sends SIGKILL to the process name and waits until the launcher
// reports its death.
func (s *clusterSuite) kill(name string) {
	s.t.Helper()
	pid, ok := s.pids[name]
	if !ok {
		s.t.Fatalf("no process %s", name)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		s.t.Fatalf("killing %s: %v", name, err)
	}
	s.t.Logf("SIGKILL %s (pid %d)", name, pid)
}

// replicaList dials every replica of a backend, as Steward's services do:
// round robin over the healthy ones.
func (s *clusterSuite) replicaList(name string) grpc.ClientConnInterface {
	s.t.Helper()
	cc, err := grpcclient.Dial(strings.Join(s.replicas[name], ","), grpcclient.Options{Timeout: 20 * time.Second})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { cc.Close() })
	return cc
}

// clusterLoad is how long the mixed load of TestClusterFaults runs:
// STEWARD_CLUSTER_SECONDS (make test-cluster), 9 seconds by default (make
// test's short form).
func clusterLoad(t *testing.T) time.Duration {
	if v := os.Getenv("STEWARD_CLUSTER_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 {
			t.Fatalf("STEWARD_CLUSTER_SECONDS=%q: want a number of seconds, 3 or more", v)
		}
		return time.Duration(n) * time.Second
	}
	return 9 * time.Second
}

// TestClusterFaults is issue 17 point 4: three etcd members and two replicas
// of each backend under a mixed write load — group memberships added,
// removed and read (a register per group and member), users created, seats
// of a small pool assigned, permissions checked — while a replica of each
// backend is SIGKILLed a third of the way in and an etcd member two thirds of
// the way in. Afterwards: every acknowledged user exists, the pool holds no
// more seats than it has and every acknowledged assignment, Check answered
// throughout through the surviving replicas, the memberships' history is
// linearizable (porcupine), and audit holds every event of the
// organization exactly once in a log that verifies.
func TestClusterFaults(t *testing.T) {
	s := launchCluster(t)
	load := clusterLoad(t)
	ctx, cancel := context.WithTimeout(context.Background(), load+4*time.Minute)
	defer cancel()
	o := s.signUpOrg(ctx, "cluster")
	owner := withBearer(ctx, o.token)

	dir := directoryv1.NewDirectoryServiceClient(s.replicaList("directory"))
	acc := accessv1.NewAccessServiceClient(s.replicaList("access"))
	lic := licensingv1.NewLicensingServiceClient(s.replicaList("licensing"))

	// Setup: four groups, six users, a role at the organization for each
	// group, a pool of three seats.
	const groups, users, seats = 4, 6, 3
	var groupNames, userNames []string
	for i := range groups {
		g, err := dir.CreateGroup(owner, &directoryv1.CreateGroupRequest{Parent: o.org, GroupId: fmt.Sprintf("g%d", i), Group: &directoryv1.Group{DisplayName: fmt.Sprintf("G%d", i)}})
		if err != nil {
			t.Fatal(err)
		}
		groupNames = append(groupNames, g.GetName())
	}
	for i := range users {
		u, err := dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: o.org, UserId: fmt.Sprintf("u%d", i), User: &directoryv1.User{Nickname: fmt.Sprintf("u%d", i), Email: fmt.Sprintf("u%d@cluster.example", i)}})
		if err != nil {
			t.Fatal(err)
		}
		userNames = append(userNames, u.GetName())
	}
	pool, err := lic.CreateLicensePool(s.asService(ctx, "operator"), &licensingv1.CreateLicensePoolRequest{Parent: o.org, LicensePoolId: "seats",
		LicensePool: &licensingv1.LicensePool{Product: licensingv1.Product_PRODUCT_ROBOT, Edition: "professional",
			Model: licensingv1.LicenseModel_LICENSE_MODEL_NAMED, Quantity: seats, ValidUntil: timestamppb.New(time.Now().Add(24 * time.Hour))}})
	if err != nil {
		t.Fatal(err)
	}

	// The load: workers until the deadline, each on its own kind of work.
	history := linearizable.NewHistory()
	var (
		mu         sync.Mutex
		ackedUsers []string
		ackedSeats = map[string]bool{}
		checks     atomic.Int64
		checkFails []string
		writeFails atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	worker := func(fn func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				fn(i)
			}
		}()
	}
	for c := range 4 { // memberships: a register per group and member
		rng := rand.New(rand.NewPCG(uint64(c), 17))
		worker(func(int) {
			g, u := groupNames[rng.IntN(groups)], userNames[rng.IntN(users)]
			key := g + "|" + u
			switch k := linearizable.Kind(rng.IntN(3)); k {
			case linearizable.Add:
				done := history.Call(c, linearizable.Input{Key: key, Kind: k})
				_, err := dir.AddGroupMember(owner, &directoryv1.AddGroupMemberRequest{Group: g, Member: u})
				done(linearizable.Output{}, err != nil)
				if err != nil {
					writeFails.Add(1)
				}
			case linearizable.Remove:
				done := history.Call(c, linearizable.Input{Key: key, Kind: k})
				_, err := dir.RemoveGroupMember(owner, &directoryv1.RemoveGroupMemberRequest{Group: g, Member: u})
				switch {
				case err == nil:
					done(linearizable.Output{Changed: ptr(true)}, false)
				case status.Code(err) == codes.NotFound:
					done(linearizable.Output{Changed: ptr(false)}, false)
				default:
					done(linearizable.Output{}, true)
					writeFails.Add(1)
				}
			default:
				done := history.Call(c, linearizable.Input{Key: key, Kind: k})
				present, err := isMember(owner, dir, g, u)
				done(linearizable.Output{Present: present}, err != nil)
			}
		})
	}
	worker(func(i int) { // users created
		id := fmt.Sprintf("w%d", i)
		u, err := dir.CreateUser(owner, &directoryv1.CreateUserRequest{Parent: o.org, UserId: id, User: &directoryv1.User{Nickname: id, Email: id + "@cluster.example"}})
		if err != nil {
			writeFails.Add(1)
			return
		}
		mu.Lock()
		ackedUsers = append(ackedUsers, u.GetName())
		mu.Unlock()
	})
	worker(func(i int) { // seats: assign, and give back now and then
		u := userNames[i%users]
		a, err := lic.AssignLicense(owner, &licensingv1.AssignLicenseRequest{Parent: o.org,
			LicenseAssignment: &licensingv1.LicenseAssignment{Pool: pool.GetName(), Member: u}})
		switch {
		case err == nil:
			mu.Lock()
			ackedSeats[a.GetName()] = true
			mu.Unlock()
			if i%3 == 0 {
				if _, err := lic.UnassignLicense(owner, &licensingv1.UnassignLicenseRequest{Name: a.GetName()}); err == nil {
					mu.Lock()
					delete(ackedSeats, a.GetName())
					mu.Unlock()
				}
			}
		case status.Code(err) == codes.FailedPrecondition || status.Code(err) == codes.AlreadyExists:
		default:
			writeFails.Add(1)
		}
	})
	for range 2 { // permission checks through the access replicas
		worker(func(i int) {
			_, err := acc.CheckPermission(owner, &accessv1.CheckPermissionRequest{Principal: userNames[i%users], Permission: "users.view", Scope: o.org})
			checks.Add(1)
			if err != nil {
				mu.Lock()
				checkFails = append(checkFails, err.Error())
				mu.Unlock()
			}
		})
	}

	time.Sleep(load / 3)
	// Audit ingests each source on one elected replica (Follow.Once).
	for _, src := range auditSources {
		job := "elected to run follow-audit-" + src
		if n := strings.Count(s.out.String(), job); n != 1 {
			t.Errorf("%q appears %d times before any replica died, want once: one audit replica ingests %s", job, n, src)
		}
	}
	var leaders []string
	for _, m := range regexp.MustCompile(`(audit-\d)\s*\|[^\n]*elected to run follow-audit-(\w+)`).FindAllStringSubmatch(s.out.String(), -1) {
		leaders = append(leaders, m[2]+" by "+m[1])
	}
	t.Logf("audit ingests %s", strings.Join(leaders, ", "))
	for _, name := range backends {
		s.kill(name + "-2")
	}
	time.Sleep(load / 3)
	s.kill("etcd2")
	time.Sleep(load / 3)
	close(stop)
	wg.Wait()
	t.Logf("load: %d membership operations, %d users and %d seats acknowledged, %d checks, %d writes failed (not acknowledged)",
		history.Len(), len(ackedUsers), len(ackedSeats), checks.Load(), writeFails.Load())

	// Check answered throughout, through the survivor.
	if len(checkFails) > 0 {
		t.Errorf("%d of %d checks failed; first: %s", len(checkFails), checks.Load(), checkFails[0])
	}
	// Every acknowledged user exists.
	for _, u := range ackedUsers {
		if _, err := dir.GetUser(owner, &directoryv1.GetUserRequest{Name: u}); err != nil {
			t.Errorf("acknowledged user %s: %v", u, err)
		}
	}
	// No seat over-assigned; every acknowledged assignment kept.
	list, err := lic.ListLicenseAssignments(owner, &licensingv1.ListLicenseAssignmentsRequest{Parent: o.org, Pool: pool.GetName(), PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{}
	for _, a := range list.GetLicenseAssignments() {
		held[a.GetName()] = true
	}
	if len(held) > seats {
		t.Errorf("the pool of %d seats holds %d assignments", seats, len(held))
	}
	for a := range ackedSeats {
		if !held[a] {
			t.Errorf("acknowledged seat assignment %s lost", a)
		}
	}
	// The memberships' history, with a last read of every key.
	for _, g := range groupNames {
		for _, u := range userNames {
			done := history.Call(99, linearizable.Input{Key: g + "|" + u, Kind: linearizable.Read})
			present, err := isMember(owner, dir, g, u)
			if err != nil {
				t.Fatal(err)
			}
			done(linearizable.Output{Present: present}, false)
		}
	}
	if res, why := history.Check(time.Minute); res != porcupine.Ok {
		t.Errorf("the memberships' history is %v:\n%s", res, why)
	}
	s.auditExactlyOnce(ctx, owner, o.org)
}

func ptr[T any](v T) *T { return &v }

// isMember reads whether user is an explicit member of group.
func isMember(ctx context.Context, dir directoryv1.DirectoryServiceClient, group, user string) (bool, error) {
	for token := ""; ; {
		page, err := dir.ListGroupMembers(ctx, &directoryv1.ListGroupMembersRequest{Group: group, PageSize: 1000, PageToken: token})
		if err != nil {
			return false, err
		}
		for _, m := range page.GetMemberships() {
			if m.GetMember() == user {
				return true, nil
			}
		}
		if token = page.GetNextPageToken(); token == "" {
			return false, nil
		}
	}
}

// auditExactlyOnce waits until audit has ingested every event of org the
// three sources hold (their logs read through the surviving replicas), checks
// that each is recorded once, and that the log verifies.
func (s *clusterSuite) auditExactlyOnce(ctx, owner context.Context, org string) {
	s.t.Helper()
	as := &auditSuite{t: s.t, dataDir: s.dataDir, conns: map[string]*grpc.ClientConn{}, addrs: map[string]string{}, audit: &service{out: s.out}}
	for _, name := range backends {
		as.addrs[name] = s.replicas[name][0] // replica 1 survived
	}
	sources := as.sourceEvents(ctx, org)
	as.awaitAudit(ctx, owner, org, int64(len(sources)))
	as.recordedOnce(owner, org, sources)
	a := auditv1.NewAuditServiceClient(as.conn("audit"))
	v, err := a.VerifyAuditLog(owner, &auditv1.VerifyAuditLogRequest{Parent: org})
	if err != nil || !v.GetOk() {
		s.t.Fatalf("VerifyAuditLog: %v, %v", v, err)
	}
	s.t.Logf("audit: %d events of %s, each once; the log verifies (%d events checked)", len(sources), org, v.GetEventsChecked())
}
