package authorizer

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"steward.dev/pkg/resourcename"

	"steward.dev/services/access/catalogue"
)

// Issue 5 sizing: 100,000 users, 5,000 groups, 50,000 scopes and 1,000,000
// assignments in one process (R16). Built once, only by benchmarks.
const (
	benchUsers       = 100_000
	benchGroups      = 5_000
	benchScopes      = 50_000
	benchAssignments = 1_000_000
	benchTenants     = 20
	benchServices    = 10 // per tenant
	benchGroupsEach  = 3  // memberships per user
	benchGroupAssign = 20 // assignments per group
	benchQueries     = 1 << 16
)

type benchData struct {
	m                  *Model
	queries            []CheckItem
	bytesPerAssignment float64
	heapBytes          uint64
	build              time.Duration
}

var (
	benchOnce sync.Once
	bench     *benchData
)

func benchDataset(b *testing.B) *benchData {
	if testing.Short() {
		b.Skip("skipping the 1,000,000-assignment dataset in -short mode")
	}
	benchOnce.Do(func() { bench = buildBench(b) })
	return bench
}

func buildBench(b *testing.B) *benchData {
	start := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	// Assignment tables are not pre-sized, so the heap delta below includes
	// their growth.
	m := New(Sizes{Principals: benchUsers + benchGroups + 1, Scopes: benchScopes})
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	const org = "organizations/o1"
	must(m.UpsertScope(Scope{Name: org}))
	var services, folders []string
	var folderDepth []int
	for t := range benchTenants {
		tn := org + "/tenants/t" + strconv.Itoa(t)
		must(m.UpsertScope(Scope{Name: tn}))
		for s := range benchServices {
			sn := tn + "/services/s" + strconv.Itoa(s)
			must(m.UpsertScope(Scope{Name: sn, ServiceType: catalogue.ServiceTypeOrchestrator}))
			services = append(services, sn)
		}
	}
	nFolders := benchScopes - 1 - benchTenants - len(services)
	perSvc := make([][]int, len(services))
	for i := range nFolders {
		svc := i % len(services)
		parent, depth := services[svc], 1
		// A third of the folders nest under an earlier folder of the same
		// service, up to four levels deep.
		if ps := perSvc[svc]; len(ps) > 0 && rng.IntN(3) == 0 {
			p := ps[rng.IntN(len(ps))]
			if folderDepth[p] < 4 {
				parent, depth = folders[p], folderDepth[p]+1
			}
		}
		fn := parent + "/folders/f" + strconv.Itoa(i)
		must(m.UpsertScope(Scope{Name: fn}))
		perSvc[svc] = append(perSvc[svc], len(folders))
		folders = append(folders, fn)
		folderDepth = append(folderDepth, depth)
	}
	users := make([]string, benchUsers)
	for i := range users {
		users[i] = "u" + strconv.Itoa(i)
		st := StatusActive
		if i%100 == 99 {
			st = StatusInactive
		}
		must(m.UpsertPrincipal(Principal{ID: users[i], Kind: KindUser, Status: st, Organization: org}))
	}
	groups := make([]string, benchGroups)
	for i := range groups {
		groups[i] = "g" + strconv.Itoa(i)
		must(m.UpsertPrincipal(Principal{ID: groups[i], Kind: KindGroup, Status: StatusActive, Organization: org}))
	}
	must(m.UpsertPrincipal(Principal{ID: "everyone", Kind: KindGroup, Status: StatusActive, Organization: org, Everyone: true}))
	for _, u := range users {
		for range benchGroupsEach {
			must(m.UpsertMembership(Membership{Group: groups[rng.IntN(len(groups))], Member: u}))
		}
	}
	folderRoles := []string{catalogue.RoleAutomationUser, catalogue.RoleAutomationDeveloper, catalogue.RoleFolderAdministrator}
	serviceRoles := []string{catalogue.RoleAllowToBeAutomationUser, catalogue.RoleAllowToBeAutomationDeveloper, catalogue.RoleAllowToBeFolderAdministrator, catalogue.RoleRobot}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	n := 0
	add := func(principal, role, scope string) {
		must(m.UpsertAssignment(Assignment{ID: "a" + strconv.Itoa(n), Principal: principal, Role: role, Scope: scope}))
		n++
	}
	add("everyone", catalogue.RoleUser, org)
	for _, g := range groups {
		for range benchGroupAssign {
			if rng.IntN(5) == 0 {
				add(g, serviceRoles[rng.IntN(len(serviceRoles))], services[rng.IntN(len(services))])
			} else {
				add(g, folderRoles[rng.IntN(len(folderRoles))], folders[rng.IntN(len(folders))])
			}
		}
	}
	for n < benchAssignments {
		u := users[rng.IntN(len(users))]
		switch r := rng.IntN(100); {
		case r < 80:
			add(u, folderRoles[rng.IntN(len(folderRoles))], folders[rng.IntN(len(folders))])
		case r < 99:
			add(u, serviceRoles[rng.IntN(len(serviceRoles))], services[rng.IntN(len(services))])
		default:
			add(u, catalogue.RoleTenantAdministrator, org+"/tenants/t"+strconv.Itoa(rng.IntN(benchTenants)))
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	perms := []string{
		"orchestrator.jobs.view", "orchestrator.jobs.create", "orchestrator.processes.delete",
		"orchestrator.queues.view", "orchestrator.logs.create", "orchestrator.robots.view",
		"users.view", "dashboard.view", "tenant.users.edit",
	}
	queries := make([]CheckItem, benchQueries)
	for i := range queries {
		f := rng.IntN(len(folders))
		queries[i] = CheckItem{Principal: users[rng.IntN(len(users))], Permission: perms[rng.IntN(len(perms))], Scope: folders[f]}
	}
	st := m.Stats()
	if st.Assignments != benchAssignments || st.Scopes != benchScopes {
		b.Fatalf("dataset: %+v", st)
	}
	return &benchData{
		m:                  m,
		queries:            queries,
		bytesPerAssignment: float64(after.HeapAlloc-before.HeapAlloc) / benchAssignments,
		heapBytes:          after.HeapAlloc,
		build:              time.Since(start),
	}
}

func reportDataset(b *testing.B, d *benchData) {
	b.ReportMetric(d.bytesPerAssignment, "B/assignment")
	b.ReportMetric(float64(d.heapBytes)/(1<<20), "heap-MiB")
	b.ReportMetric(d.build.Seconds(), "build-s")
}

// BenchmarkCheck measures one Check on the issue-5-sized dataset: random
// active or inactive users, folder scopes up to 4 levels below a service,
// a mix of folder, service, tenant and organization permissions.
func BenchmarkCheck(b *testing.B) {
	d := benchDataset(b)
	b.ReportAllocs()
	allowed := 0
	i := 0
	for b.Loop() {
		q := &d.queries[i&(benchQueries-1)]
		if d.m.Check(q.Principal, q.Permission, q.Scope).Allowed {
			allowed++
		}
		i++
	}
	b.ReportMetric(float64(allowed)/float64(i), "allowed-ratio")
	reportDataset(b, d)
}

// BenchmarkCheckParallel runs Checks from GOMAXPROCS goroutines under the
// shared read lock.
func BenchmarkCheckParallel(b *testing.B) {
	d := benchDataset(b)
	b.ReportAllocs()
	var seed atomic.Uint64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7919))
		for pb.Next() {
			q := &d.queries[i&(benchQueries-1)]
			d.m.Check(q.Principal, q.Permission, q.Scope)
			i++
		}
	})
}

// BenchmarkCheckBatch1000 measures a batch of 1,000 items (the
// BatchCheckPermission limit) into a reused slice.
func BenchmarkCheckBatch1000(b *testing.B) {
	d := benchDataset(b)
	b.ReportAllocs()
	dst := make([]Decision, 0, 1000)
	i := 0
	for b.Loop() {
		off := (i * 1000) & (benchQueries - 1)
		if off+1000 > benchQueries {
			off = 0
		}
		dst = d.m.CheckBatch(d.queries[off:off+1000], dst[:0])
		i++
	}
}

// BenchmarkExplain measures the "Check Permissions" view of a user at a
// service, subtree included.
func BenchmarkExplain(b *testing.B) {
	d := benchDataset(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		q := &d.queries[i&(benchQueries-1)]
		svc := q.Scope
		for levelOf(svc) == catalogue.LevelFolder { // up to the service
			svc, _ = resourcename.Parent(svc)
		}
		if _, err := d.m.Explain(q.Principal, svc, true); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkReason measures the reason every CheckPermission response
// carries, for an allowed decision through a group and for a denial.
func BenchmarkReason(b *testing.B) {
	allowed := Decision{Allowed: true, assignmentParent: "organizations/o1/roleAssignments/", assignment: "ra-0123456789", RoleName: "Automation User",
		AssignedAt: "organizations/o1/tenants/t1/services/s1/folders/f1", Group: "organizations/o1/groups/g1"}
	denied := Decision{Permission: "orchestrator.jobs.create", Scope: "organizations/o1/tenants/t1/services/s1/folders/f1", Principal: "organizations/o1/users/u1"}
	b.Run("allowed", func(b *testing.B) {
		for b.Loop() {
			_ = allowed.Reason()
		}
	})
	b.Run("denied", func(b *testing.B) {
		for b.Loop() {
			_ = denied.Reason()
		}
	})
}

// BenchmarkHolders measures the first page (100) of "who can do P at S"
// (issue 14) at random folders of the issue-5-sized dataset: a folder
// permission, held through users' and groups' assignments at the folder
// and its ancestors, and users.view, which Everyone's role at the
// organization gives all 100,000 users.
func BenchmarkHolders(b *testing.B) {
	d := benchDataset(b)
	for _, perm := range []string{"orchestrator.jobs.view", "users.view"} {
		b.Run(perm, func(b *testing.B) {
			b.ReportAllocs()
			listed, i := 0, 0
			for b.Loop() {
				page, _, err := d.m.Holders(perm, d.queries[i&(benchQueries-1)].Scope, "", 100)
				if err != nil {
					b.Fatal(err)
				}
				listed += len(page)
				i++
			}
			b.ReportMetric(float64(listed)/float64(i), "holders/op")
		})
	}
}

// BenchmarkPermittedScopes measures the first page (100) of "where can X
// do P" (issue 14) for random users under the organization: a folder
// permission, held below a few dozen grants, and users.view, held
// everywhere (Everyone's role at the organization) in the 50,000 scopes.
func BenchmarkPermittedScopes(b *testing.B) {
	d := benchDataset(b)
	for _, perm := range []string{"orchestrator.jobs.view", "users.view"} {
		b.Run(perm, func(b *testing.B) {
			b.ReportAllocs()
			listed, i := 0, 0
			for b.Loop() {
				page, _, err := d.m.PermittedScopes(d.queries[i&(benchQueries-1)].Principal, perm, "organizations/o1", "", 100)
				if err != nil {
					b.Fatal(err)
				}
				listed += len(page)
				i++
			}
			b.ReportMetric(float64(listed)/float64(i), "scopes/op")
		})
	}
}
