package dataset

import (
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	accessv1 "steward.dev/gen/steward/access/v1"
	directoryv1 "steward.dev/gen/steward/directory/v1"
)

// The owner the dataset signs up with. Bench data only: the suites it is
// loaded into are throwaway.
const (
	ownerEmail    = "owner@bench.example"
	ownerPassword = "bench owner's long password"
)

// The principal the load driver calls as, as an orchestrator does: a
// robot account with an API key and, through a custom organization role,
// users.view, which CheckPermission needs to ask about other principals.
const (
	checkerAccountID = "orchestrator"
	checkerRoleID    = "bench-check-caller"
)

// Defaults of Config.
const (
	// DefaultConcurrency is the default Config.Concurrency.
	DefaultConcurrency = 16
	// DefaultChunk is the default Config.Chunk: the batch RPCs' largest
	// batch.
	DefaultChunk = 1000
)

// Config says where and how Load loads a plan.
type Config struct {
	// DirectoryAddr and AccessAddr are the suite's gRPC addresses
	// (plaintext, as on loopback). Required.
	DirectoryAddr, AccessAddr string
	// Concurrency bounds the calls in flight; default DefaultConcurrency.
	Concurrency int
	// Chunk is how many memberships or assignments go to one Writer call;
	// default DefaultChunk.
	Chunk int
	// NewWriter makes the Writer from clients authenticated as the owner;
	// nil means Batch.
	NewWriter func(directoryv1.DirectoryServiceClient, accessv1.AccessServiceClient) Writer
	// Progress, when not nil, receives one line per kind loaded.
	Progress io.Writer
}

// Rate is how fast one kind of resource was loaded.
type Rate struct {
	// Kind names the resources, e.g. "assignments".
	Kind string `json:"kind"`
	// Count is how many were created.
	Count int `json:"count"`
	// Seconds is how long it took.
	Seconds float64 `json:"seconds"`
	// PerSecond is Count / Seconds.
	PerSecond float64 `json:"per_second"`
}

// String formats r as "assignments: 100000 in 160.2s (624/s)".
func (r Rate) String() string {
	return fmt.Sprintf("%s: %d in %.1fs (%.0f/s)", r.Kind, r.Count, r.Seconds, r.PerSecond)
}

// Load signs up the plan's organization in the suite at cfg's addresses
// and creates everything in the plan, kind by kind, parents first; then it
// makes the driver's robot account and API key, draws the probes and picks
// the membership target (Plan.MembershipTarget). The
// organization must not exist yet (a fresh suite).
func Load(ctx context.Context, cfg Config, p *Plan) (*Manifest, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Chunk <= 0 {
		cfg.Chunk = DefaultChunk
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	plainDir, err := grpc.NewClient(cfg.DirectoryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer plainDir.Close()
	public := directoryv1.NewDirectoryServiceClient(plainDir)
	ownerCreds := Credentials{Email: ownerEmail, Password: ownerPassword}
	owner := grpc.WithPerRPCCredentials(ownerCreds.PerRPC(public, p.Organization))
	dirConn, err := grpc.NewClient(cfg.DirectoryAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), owner)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer dirConn.Close()
	accConn, err := grpc.NewClient(cfg.AccessAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), owner)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	defer accConn.Close()
	l := &loader{cfg: cfg, plan: p, dir: directoryv1.NewDirectoryServiceClient(dirConn), acc: accessv1.NewAccessServiceClient(accConn)}
	if cfg.NewWriter != nil {
		l.writer = cfg.NewWriter(l.dir, l.acc)
	} else {
		l.writer = Batch{Directory: l.dir, Access: l.acc}
	}

	if _, err := public.SignUp(ctx, &directoryv1.SignUpRequest{OrganizationId: OrganizationID, OrganizationDisplayName: "Bench",
		Nickname: "owner", Email: ownerEmail, Password: ownerPassword}); err != nil {
		return nil, fmt.Errorf("dataset: signing up %s: %w", p.Organization, err)
	}
	steps := []func(context.Context) error{l.tenants, l.services, l.folders, l.users, l.groups, l.memberships, l.roles, l.assignments}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
	}
	key, err := l.checker(ctx)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	holds, err := l.rolesHolding(ctx, ProbePermission)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	probes, err := p.Probes(p.Spec.Probes, func(role string) bool { return holds[role] })
	if err != nil {
		return nil, err
	}
	target, err := p.MembershipTarget()
	if err != nil {
		return nil, err
	}
	var folders []string
	for _, level := range p.FolderLevels {
		folders = append(folders, level...)
	}
	return &Manifest{Spec: p.Spec, Organization: p.Organization, APIKey: key, Owner: ownerCreds, Membership: &target,
		Rates: l.rates, Folders: folders, Probes: probes}, nil
}

// loader loads one plan.
type loader struct {
	cfg    Config
	plan   *Plan
	dir    directoryv1.DirectoryServiceClient
	acc    accessv1.AccessServiceClient
	writer Writer
	rates  []Rate
}

// each runs f(i) for i in [0, n) as parallel does and records the rate
// of kind.
func (l *loader) each(ctx context.Context, kind string, n int, f func(ctx context.Context, i int) error) error {
	start := time.Now()
	if err := l.parallel(ctx, n, f); err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	l.record(kind, n, time.Since(start))
	return nil
}

// parallel runs f(i) for i in [0, n) with at most cfg.Concurrency at once
// and returns the first error.
func (l *loader) parallel(ctx context.Context, n int, f func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(l.cfg.Concurrency)
	for i := range n {
		g.Go(func() error { return f(gctx, i) })
	}
	return g.Wait()
}

// record adds the rate of count items of kind loaded in d.
func (l *loader) record(kind string, count int, d time.Duration) {
	r := Rate{Kind: kind, Count: count, Seconds: d.Seconds(), PerSecond: float64(count) / d.Seconds()}
	l.rates = append(l.rates, r)
	fmt.Fprintln(l.cfg.Progress, r)
}

// chunks runs f over items in chunks of cfg.Chunk, in parallel, and
// records the rate of kind.
func chunks[T any](ctx context.Context, l *loader, kind string, items []T, f func(context.Context, []T) error) error {
	start := time.Now()
	n := (len(items) + l.cfg.Chunk - 1) / l.cfg.Chunk
	err := l.parallel(ctx, n, func(ctx context.Context, i int) error {
		return f(ctx, items[i*l.cfg.Chunk:min(len(items), (i+1)*l.cfg.Chunk)])
	})
	if err != nil {
		return fmt.Errorf("%s: %w", kind, err)
	}
	l.record(kind, len(items), time.Since(start))
	return nil
}

func (l *loader) tenants(ctx context.Context) error {
	return l.each(ctx, "tenants", len(l.plan.Tenants), func(ctx context.Context, i int) error {
		id := path.Base(l.plan.Tenants[i])
		_, err := l.dir.CreateTenant(ctx, &directoryv1.CreateTenantRequest{Parent: l.plan.Organization, TenantId: id,
			Tenant: &directoryv1.Tenant{DisplayName: "Tenant " + id}})
		return err
	})
}

func (l *loader) services(ctx context.Context) error {
	return l.each(ctx, "services", len(l.plan.Services), func(ctx context.Context, i int) error {
		name := l.plan.Services[i]
		_, err := l.dir.CreateService(ctx, &directoryv1.CreateServiceRequest{Parent: path.Dir(path.Dir(name)), ServiceId: path.Base(name),
			Service: &directoryv1.Service{DisplayName: "Orchestrator " + path.Base(name), Type: "orchestrator"}})
		return err
	})
}

// folders creates the folders level by level, each level's in parallel.
func (l *loader) folders(ctx context.Context) error {
	start := time.Now()
	for _, level := range l.plan.FolderLevels {
		err := l.parallel(ctx, len(level), func(ctx context.Context, i int) error {
			name := level[i]
			_, err := l.dir.CreateFolder(ctx, &directoryv1.CreateFolderRequest{Parent: path.Dir(path.Dir(name)), FolderId: path.Base(name),
				Folder: &directoryv1.Folder{DisplayName: "Folder " + path.Base(name)}})
			return err
		})
		if err != nil {
			return fmt.Errorf("folders: %w", err)
		}
	}
	l.record("folders", l.plan.FolderCount(), time.Since(start))
	return nil
}

// users creates the users without passwords: CreateUser hashes an initial
// password with argon2id, which is slow on purpose, and the benchmark
// never signs in as them.
func (l *loader) users(ctx context.Context) error {
	return l.each(ctx, "users", len(l.plan.Users), func(ctx context.Context, i int) error {
		id := path.Base(l.plan.Users[i])
		_, err := l.dir.CreateUser(ctx, &directoryv1.CreateUserRequest{Parent: l.plan.Organization, UserId: id,
			User: &directoryv1.User{Nickname: id, Email: id + "@bench.example"}})
		return err
	})
}

func (l *loader) groups(ctx context.Context) error {
	return l.each(ctx, "groups", len(l.plan.Groups), func(ctx context.Context, i int) error {
		id := path.Base(l.plan.Groups[i])
		_, err := l.dir.CreateGroup(ctx, &directoryv1.CreateGroupRequest{Parent: l.plan.Organization, GroupId: id,
			Group: &directoryv1.Group{DisplayName: "Group " + id}})
		return err
	})
}

func (l *loader) memberships(ctx context.Context) error {
	return chunks(ctx, l, "memberships", l.plan.Memberships, l.writer.AddMemberships)
}

func (l *loader) roles(ctx context.Context) error {
	return l.each(ctx, "custom roles", len(l.plan.Roles), func(ctx context.Context, i int) error {
		r := l.plan.Roles[i]
		level := accessv1.Level_LEVEL_FOLDER
		if r.Service {
			level = accessv1.Level_LEVEL_SERVICE
		}
		_, err := l.acc.CreateRole(ctx, &accessv1.CreateRoleRequest{Parent: l.plan.Organization, RoleId: r.ID,
			Role: &accessv1.Role{DisplayName: r.DisplayName, Level: level, ServiceType: "orchestrator", Permissions: r.Permissions}})
		return err
	})
}

func (l *loader) assignments(ctx context.Context) error {
	return chunks(ctx, l, "assignments", l.plan.Assignments, l.writer.CreateAssignments)
}

// checker makes the driver's robot account, gives it users.view at the
// organization through a custom role, and returns an API key for it made
// by the owner (a key holds what its account and its creator both hold).
func (l *loader) checker(ctx context.Context) (APIKey, error) {
	org := l.plan.Organization
	ra, err := l.dir.CreateRobotAccount(ctx, &directoryv1.CreateRobotAccountRequest{Parent: org, RobotAccountId: checkerAccountID,
		RobotAccount: &directoryv1.RobotAccount{DisplayName: "Orchestrator"}})
	if err != nil {
		return APIKey{}, fmt.Errorf("robot account: %w", err)
	}
	if _, err := l.acc.CreateRole(ctx, &accessv1.CreateRoleRequest{Parent: org, RoleId: checkerRoleID,
		Role: &accessv1.Role{DisplayName: "Bench Check Caller", Level: accessv1.Level_LEVEL_ORGANIZATION, Permissions: []string{"users.view"}}}); err != nil {
		return APIKey{}, fmt.Errorf("checker role: %w", err)
	}
	err = retryNotConsistent(ctx, func() error {
		_, err := l.acc.CreateRoleAssignment(ctx, &accessv1.CreateRoleAssignmentRequest{Parent: org, Principal: ra.GetName(),
			Roles: []string{org + "/roles/" + checkerRoleID}, Scope: org})
		return err
	})
	if err != nil {
		return APIKey{}, fmt.Errorf("checker role assignment: %w", err)
	}
	k, err := l.dir.CreateApiKey(ctx, &directoryv1.CreateApiKeyRequest{Parent: ra.GetName(), ApiKey: &directoryv1.ApiKey{DisplayName: "bench load driver"}})
	if err != nil {
		return APIKey{}, fmt.Errorf("API key: %w", err)
	}
	return APIKey{Name: k.GetApiKey().GetName(), Principal: ra.GetName(), Secret: k.GetSecret()}, nil
}

// rolesHolding asks access which of the roles the plan assigns hold
// permission.
func (l *loader) rolesHolding(ctx context.Context, permission string) (map[string]bool, error) {
	holds := make(map[string]bool)
	for _, a := range l.plan.Assignments {
		if _, asked := holds[a.Role]; asked {
			continue
		}
		r, err := l.acc.GetRole(ctx, &accessv1.GetRoleRequest{Name: a.Role})
		if err != nil {
			return nil, fmt.Errorf("role %s: %w", a.Role, err)
		}
		holds[a.Role] = slices.Contains(r.GetPermissions(), permission)
	}
	return holds, nil
}
