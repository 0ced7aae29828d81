package programs_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"steward.dev/deploy/internal/programs"
)

// TestMakeBuildWritesTheBinaries checks that `make build` writes each
// program as bin/<Binary()>, the name the manifests and units run.
func TestMakeBuildWritesTheBinaries(t *testing.T) {
	data, err := os.ReadFile("../../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(data)
	m := regexp.MustCompile(`(?m)^SERVICES\s*:=\s*(.*)$`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatal("no SERVICES := line in the Makefile")
	}
	services := strings.Fields(m[1])
	const build = "go build -o $(BIN)/steward-$$s ./services/$$s/cmd/$$s"
	if !strings.Contains(mk, "for s in $(SERVICES); do "+build) {
		t.Fatalf("the Makefile's build recipe no longer runs %q over $(SERVICES): update programs.Binary", build)
	}
	if len(services) != len(programs.All) {
		t.Errorf("SERVICES %v, programs.All has %d", services, len(programs.All))
	}
	for i, p := range programs.All {
		if i < len(services) && services[i] != p.Name {
			t.Errorf("SERVICES[%d] = %s, want %s", i, services[i], p.Name)
		}
		if p.Binary() != "steward-"+p.Name {
			t.Errorf("%s: Binary() = %s", p.Name, p.Binary())
		}
	}
}

func TestParse(t *testing.T) {
	dir, _ := programs.ByName("directory")
	gw, _ := programs.ByName("gateway")
	for _, tc := range []struct {
		p    programs.Program
		args []string
		ok   bool
	}{
		{dir, []string{"-addr=0.0.0.0:7001", "-log-format=json"}, true},
		{dir, []string{"-store=etcd", "-etcd-endpoints=a:2379,b.example:2379"}, true},
		{dir, []string{"-store=bbolt"}, true},
		{dir, []string{"-store=postgres"}, false},
		{dir, []string{"-etcd-endpoints=a"}, false},
		{dir, []string{"-etcd-endpoints=a:0"}, false},
		{dir, []string{"-nope=1"}, false},
		{dir, []string{"-max-recv-msg-bytes=lots"}, false},
		{dir, []string{"positional"}, false},
		{gw, []string{"-addr=0.0.0.0:8080", "-trusted-services-file="}, true},
		// The gateway keeps no data: no store flags.
		{gw, []string{"-store=etcd"}, false},
		{gw, []string{"-cors-origins=https://a.example", "-trusted-proxies=10.0.0.0/8"}, true},
		{gw, []string{"-trusted-proxies=nonsense"}, false},
	} {
		_, err := tc.p.Parse(tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("%s %q: err %v, want ok %v", tc.p.Name, tc.args, err, tc.ok)
		}
	}
}

func TestCheckEnv(t *testing.T) {
	dir, _ := programs.ByName("directory")
	gw, _ := programs.ByName("gateway")
	for _, tc := range []struct {
		p        programs.Program
		env, val string
		flag     string
		ok       bool
	}{
		{dir, "STEWARD_LOG_LEVEL", "debug", "log-level", true},
		{dir, "STEWARD_ETCD_ENDPOINTS", "etcd:2379", "etcd-endpoints", true},
		{dir, "STEWARD_ETCD_ENDPOINTS", "etcd", "etcd-endpoints", false},
		{dir, "STEWARD_TOKEN_TTL", "soon", "token-ttl", false},
		{gw, "STEWARD_ETCD_ENDPOINTS", "etcd:2379", "", true}, // the gateway ignores it
		{gw, "STEWARD_AUDIT_ADDR", "audit:7004", "audit-addr", true},
		{dir, "STEWARD_AUDIT_ADDR", "audit:7004", "", true},
	} {
		name, err := tc.p.CheckEnv(tc.env, tc.val)
		if name != tc.flag || (err == nil) != tc.ok {
			t.Errorf("%s %s=%q: flag %q err %v, want flag %q ok %v", tc.p.Name, tc.env, tc.val, name, err, tc.flag, tc.ok)
		}
	}
}
