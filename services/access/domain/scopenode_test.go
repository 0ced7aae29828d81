package domain

import (
	"strings"
	"testing"
)

func TestScopeNode(t *testing.T) {
	for in, want := range map[string]string{
		"organizations/o1":                                            "organizations/o1",
		"organizations/o1/users/u1":                                   "organizations/o1",
		"organizations/o1/accountSystem":                              "organizations/o1",
		"organizations/o1/tenants/t1":                                 "organizations/o1/tenants/t1",
		"organizations/o1/tenants/t1/services/s1/folders/f/folders/g": "organizations/o1/tenants/t1/services/s1/folders/f/folders/g",
		"organizations/o1/tenants/t1/services/s1/projects/p1":         "organizations/o1/tenants/t1/services/s1/projects/p1",
		"organizations/o1/tenants/t1/services/s1/robots/r1":           "organizations/o1/tenants/t1/services/s1",
		"organizations/o1/roles/r1":                                   "organizations/o1",
		"organizations/o1/tenants":                                    "organizations/o1",
		"roles/x":                                                     "roles/x",
	} {
		if got := ScopeNode(in); got != want {
			t.Errorf("ScopeNode(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { ScopeNode("organizations/o1/tenants/t1/services/s1/folders/f1") }); n != 0 {
		t.Errorf("ScopeNode allocates %v times", n)
	}
}

// FuzzScopeNode: the node is always a prefix of the name, ends at a segment
// boundary, and is its own node.
func FuzzScopeNode(f *testing.F) {
	for _, s := range []string{"organizations/o1/tenants/t1/services/s1/folders/f1", "organizations/o1/users/u1", "organizations//x", "organizations/o1/tenants/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		node := ScopeNode(name)
		if !strings.HasPrefix(name, node) {
			t.Fatalf("ScopeNode(%q) = %q, not a prefix", name, node)
		}
		if len(node) < len(name) && name[len(node)] != '/' {
			t.Fatalf("ScopeNode(%q) = %q, not at a segment boundary", name, node)
		}
		if again := ScopeNode(node); again != node {
			t.Fatalf("ScopeNode(%q) = %q, but ScopeNode of that is %q", name, node, again)
		}
	})
}
