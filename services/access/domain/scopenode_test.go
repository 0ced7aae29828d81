package domain

import "testing"

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
