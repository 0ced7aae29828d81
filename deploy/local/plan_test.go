package main

import (
	"slices"
	"strings"
	"testing"
)

// names returns the names of procs, in order.
func names(procs []process) []string {
	var out []string
	for _, p := range procs {
		out = append(out, p.name)
	}
	return out
}

// byName returns the process of procs called name.
func byName(t *testing.T, procs []process, name string) process {
	t.Helper()
	for _, p := range procs {
		if p.name == name {
			return p
		}
	}
	t.Fatalf("no process %s in %q", name, names(procs))
	return process{}
}

// TestPlanDefault: without cluster flags the launcher starts what it always
// did, with the same flags.
func TestPlanDefault(t *testing.T) {
	cfg, err := parseFlags([]string{"-data-dir", "/d", "-service-flag", "audit=-purge-interval=1s"})
	if err != nil {
		t.Fatal(err)
	}
	procs, err := plan(cfg, "/d/credentials")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(procs), []string{"directory", "access", "licensing", "audit", "gateway"}; !slices.Equal(got, want) {
		t.Fatalf("processes %q, want %q", got, want)
	}
	audit := byName(t, procs, "audit")
	want := []string{"-addr", "127.0.0.1:7004", "-metrics-addr", "127.0.0.1:9004", "-data-dir", "/d/audit",
		"-service-credential-file", "/d/credentials/audit", "-trusted-services-file", "/d/credentials/services.sha256",
		"-directory-addr", "127.0.0.1:7001", "-access-addr", "127.0.0.1:7002", "-log-level", "info",
		"-licensing-addr", "127.0.0.1:7003", "-purge-interval=1s"}
	if !slices.Equal(audit.args, want) {
		t.Errorf("audit's arguments\n %q\nwant\n %q", audit.args, want)
	}
	gw := byName(t, procs, "gateway")
	want = []string{"-addr", "127.0.0.1:8080", "-log-level", "info",
		"-service-credential-file", "/d/credentials/gateway", "-trusted-services-file", "/d/credentials/services.sha256",
		"-directory-addr", "127.0.0.1:7001", "-access-addr", "127.0.0.1:7002", "-licensing-addr", "127.0.0.1:7003", "-audit-addr", "127.0.0.1:7004"}
	if !slices.Equal(gw.args, want) {
		t.Errorf("gateway's arguments\n %q\nwant\n %q", gw.args, want)
	}
	if dir := byName(t, procs, "directory"); !slices.Contains(dir.args, "-oidc-allow-private-issuers") || slices.Contains(dir.args, "-store") {
		t.Errorf("directory's arguments %q", dir.args)
	}
}

// TestPlanCluster: -etcd-members 3 -replicas 2 starts three members, two
// replicas of each backend on the etcd, each on its own ports and data
// directory with its service's credential, every service dialling the
// others' replicas, and one gateway in front of them.
func TestPlanCluster(t *testing.T) {
	cfg, err := parseFlags([]string{"-data-dir", "/d", "-etcd-members", "3", "-replicas", "2", "-etcd-port", "3379", "-access-metrics-addr", "",
		"-service-flag", "access=-etcd-prefix=/x/"})
	if err != nil {
		t.Fatal(err)
	}
	procs, err := plan(cfg, "/d/credentials")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"etcd1", "etcd2", "etcd3", "directory-1", "directory-2", "access-1", "access-2",
		"licensing-1", "licensing-2", "audit-1", "audit-2", "gateway"}
	if got := names(procs); !slices.Equal(got, want) {
		t.Fatalf("processes %q, want %q", got, want)
	}

	initial := "etcd1=http://127.0.0.1:3380,etcd2=http://127.0.0.1:3382,etcd3=http://127.0.0.1:3384"
	etcd2 := byName(t, procs, "etcd2")
	if got, want := etcd2.args, []string{"-name", "etcd2", "-data-dir", "/d/etcd2", "-client-addr", "127.0.0.1:3381",
		"-peer-addr", "127.0.0.1:3382", "-initial-cluster", initial, "-ignore-sigint"}; !slices.Equal(got, want) {
		t.Errorf("etcd2's arguments\n %q\nwant\n %q", got, want)
	}
	if etcd2.binary != "etcd" || !etcd2.etcd() || etcd2.addr != "127.0.0.1:3381" {
		t.Errorf("etcd2 = %+v", etcd2)
	}

	endpoints := "127.0.0.1:3379,127.0.0.1:3381,127.0.0.1:3383"
	audit2 := byName(t, procs, "audit-2")
	wantArgs := []string{"-addr", "127.0.0.1:7014", "-metrics-addr", "127.0.0.1:9014", "-data-dir", "/d/audit-2",
		"-service-credential-file", "/d/credentials/audit", "-trusted-services-file", "/d/credentials/services.sha256",
		"-directory-addr", "127.0.0.1:7001,127.0.0.1:7011", "-access-addr", "127.0.0.1:7002,127.0.0.1:7012", "-log-level", "info",
		"-licensing-addr", "127.0.0.1:7003,127.0.0.1:7013", "-store", "etcd", "-etcd-endpoints", endpoints}
	if !slices.Equal(audit2.args, wantArgs) {
		t.Errorf("audit-2's arguments\n %q\nwant\n %q", audit2.args, wantArgs)
	}
	if audit2.binary != "audit" || audit2.service != "audit" {
		t.Errorf("audit-2 = %+v", audit2)
	}
	access1 := byName(t, procs, "access-1")
	wantArgs = []string{"-addr", "127.0.0.1:7002", "-metrics-addr", "", "-data-dir", "/d/access-1",
		"-service-credential-file", "/d/credentials/access", "-trusted-services-file", "/d/credentials/services.sha256",
		"-directory-addr", "127.0.0.1:7001,127.0.0.1:7011", "-access-addr", "127.0.0.1:7002,127.0.0.1:7012", "-log-level", "info",
		"-store", "etcd", "-etcd-endpoints", endpoints, "-etcd-prefix=/x/"}
	if !slices.Equal(access1.args, wantArgs) {
		t.Errorf("access-1's arguments\n %q\nwant\n %q", access1.args, wantArgs)
	}
	if p := byName(t, procs, "access-2"); p.metrics != "" || p.addr != "127.0.0.1:7012" {
		t.Errorf("access-2 = %+v", p)
	}
	gw := byName(t, procs, "gateway")
	wantArgs = []string{"-addr", "127.0.0.1:8080", "-log-level", "info",
		"-service-credential-file", "/d/credentials/gateway", "-trusted-services-file", "/d/credentials/services.sha256",
		"-directory-addr", "127.0.0.1:7001,127.0.0.1:7011", "-access-addr", "127.0.0.1:7002,127.0.0.1:7012",
		"-licensing-addr", "127.0.0.1:7003,127.0.0.1:7013", "-audit-addr", "127.0.0.1:7004,127.0.0.1:7014"}
	if !slices.Equal(gw.args, wantArgs) {
		t.Errorf("gateway's arguments\n %q\nwant\n %q", gw.args, wantArgs)
	}
}

// TestPlanEtcdOneReplica: on etcd with one replica each, the services keep
// their plain names and data directories.
func TestPlanEtcdOneReplica(t *testing.T) {
	cfg, err := parseFlags([]string{"-data-dir", "/d", "-etcd-members", "1"})
	if err != nil {
		t.Fatal(err)
	}
	procs, err := plan(cfg, "/d/credentials")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(procs), []string{"etcd1", "directory", "access", "licensing", "audit", "gateway"}; !slices.Equal(got, want) {
		t.Fatalf("processes %q, want %q", got, want)
	}
	dir := byName(t, procs, "directory")
	if !slices.Contains(dir.args, "/d/directory") || !strings.Contains(strings.Join(dir.args, " "), "-store etcd -etcd-endpoints 127.0.0.1:2379") {
		t.Errorf("directory's arguments %q", dir.args)
	}
	if etcd1 := byName(t, procs, "etcd1"); !slices.Contains(etcd1.args, "etcd1=http://127.0.0.1:2380") {
		t.Errorf("etcd1's arguments %q", etcd1.args)
	}
}

// TestParseFlagsCluster: the cluster flags' bad values and combinations are
// refused, at parsing or when the ports are laid out.
func TestParseFlagsCluster(t *testing.T) {
	for _, args := range [][]string{
		{"-replicas", "2"}, // replicas share their data through etcd only
		{"-replicas", "0"},
		{"-etcd-members", "-1"},
		{"-etcd-members", "3", "-replicas", "2", "-replica-port-step", "0"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q) succeeded", args)
		}
	}
	for _, args := range [][]string{
		{"-etcd-members", "3", "-replicas", "2", "-replica-port-step", "1"}, // directory-2 on access-1's port
		{"-etcd-members", "3", "-etcd-port", "65534"},
		{"-etcd-members", "1", "-etcd-port", "9001"}, // etcd1 on directory's metrics port
		{"-etcd-members", "1", "-replicas", "2", "-audit-addr", "127.0.0.1:65530"},
	} {
		cfg, err := parseFlags(append([]string{"-data-dir", "/d"}, args...))
		if err != nil {
			t.Errorf("parseFlags(%q): %v", args, err)
			continue
		}
		if _, err := plan(cfg, "/d/credentials"); err == nil {
			t.Errorf("plan of %q succeeded", args)
		}
	}
}

// TestBanner: the banner lists every process and its addresses; the default
// mode's is the one make run always printed.
func TestBanner(t *testing.T) {
	banner := func(args ...string) string {
		t.Helper()
		cfg, err := parseFlags(append([]string{"-data-dir", "/d"}, args...))
		if err != nil {
			t.Fatal(err)
		}
		procs, err := plan(cfg, "/d/credentials")
		if err != nil {
			t.Fatal(err)
		}
		return (&suite{cfg: cfg, credsDir: "/d/credentials", procs: procs}).bannerText()
	}
	got := banner()
	want := "\nSteward is running. Press Ctrl-C to stop.\n\n" +
		"  service    address                  metrics\n" +
		"  directory  127.0.0.1:7001           http://127.0.0.1:9001/metrics\n" +
		"  access     127.0.0.1:7002           http://127.0.0.1:9002/metrics\n" +
		"  licensing  127.0.0.1:7003           http://127.0.0.1:9003/metrics\n" +
		"  audit      127.0.0.1:7004           http://127.0.0.1:9004/metrics\n" +
		"  gateway    http://127.0.0.1:8080    http://127.0.0.1:8080/metrics\n\n" +
		"  console:            http://127.0.0.1:8080/"
	if !strings.HasPrefix(got, want) || strings.Contains(got, "etcd") {
		t.Errorf("default banner:\n%s\nwant it to start with\n%s", got, want)
	}

	got = banner("-etcd-members", "3", "-replicas", "2")
	for _, line := range []string{
		"cluster mode: 3 etcd members, 2 replica(s) of each backend",
		"  process      address                  metrics\n",
		"  etcd1        127.0.0.1:2379           (etcd peers: 127.0.0.1:2380)\n",
		"  etcd3        127.0.0.1:2383           (etcd peers: 127.0.0.1:2384)\n",
		"  directory-1  127.0.0.1:7001           http://127.0.0.1:9001/metrics\n",
		"  access-2     127.0.0.1:7012           http://127.0.0.1:9012/metrics\n",
		"  audit-2      127.0.0.1:7014           http://127.0.0.1:9014/metrics\n",
		"  gateway      http://127.0.0.1:8080    http://127.0.0.1:8080/metrics\n",
		"  etcd endpoints:     127.0.0.1:2379,127.0.0.1:2381,127.0.0.1:2383",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("cluster banner lacks %q:\n%s", line, got)
		}
	}
}
