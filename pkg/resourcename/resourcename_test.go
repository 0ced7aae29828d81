package resourcename

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{"organizations/o1", false},
		{"organizations/o1/tenants/t-1/services/s1/folders/f1/folders/f2", false},
		{"organizations/o1/robotAccounts/ra1", false},
		{"", true},
		{"organizations", true},
		{"organizations/", true},
		{"/organizations/o1", true},
		{"organizations/o1/", true},
		{"organizations//tenants/t1", true},
		{"organizations/O1", true},
		{"organizations/-o1", true},
		{"organizations/o1-", true},
		{"organizations/o_1", true},
		{"Organizations/o1", true},
		{"organizations/o1/tenants/t1/x", true},
		{"organizations/" + strings.Repeat("a", 64), true},
		{"organizations/" + strings.Repeat("a", 63), false},
		{strings.Repeat("a/b/", 300) + "a/b", true},
	}
	for _, tc := range tests {
		n, err := Parse(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("Parse(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Parse(%q) error %v does not wrap ErrInvalid", tc.in, err)
			}
			continue
		}
		if got := n.String(); got != tc.in {
			t.Errorf("Parse(%q).String() = %q", tc.in, got)
		}
	}
}

func TestNameNavigation(t *testing.T) {
	n := MustParse("organizations/o1/tenants/t1/services/s1")
	if got := n.Parent().String(); got != "organizations/o1/tenants/t1" {
		t.Errorf("Parent = %q", got)
	}
	if got := n.Root().String(); got != "organizations/o1" {
		t.Errorf("Root = %q", got)
	}
	if n.Collection() != "services" || n.ID() != "s1" || n.Len() != 3 {
		t.Errorf("Collection/ID/Len = %q %q %d", n.Collection(), n.ID(), n.Len())
	}
	c := n.Child("folders", "f1")
	if c.String() != "organizations/o1/tenants/t1/services/s1/folders/f1" || n.Len() != 3 {
		t.Errorf("Child = %q, receiver changed to %d segments", c, n.Len())
	}
	if !c.HasPrefix(n) || n.HasPrefix(c) || !n.HasPrefix(n) {
		t.Error("HasPrefix wrong")
	}
	if !n.Parent().Parent().Parent().IsRoot() {
		t.Error("three parents up is not the root")
	}
}

func TestStringHelpers(t *testing.T) {
	tests := []struct {
		name, parent string
		hasParent    bool
		org          string
	}{
		{"organizations/o1/tenants/t1/services/s1", "organizations/o1/tenants/t1", true, "organizations/o1"},
		{"organizations/o1/tenants/t1", "organizations/o1", true, "organizations/o1"},
		{"organizations/o1", "", false, "organizations/o1"},
	}
	for _, tc := range tests {
		p, ok := Parent(tc.name)
		if p != tc.parent || ok != tc.hasParent {
			t.Errorf("Parent(%q) = %q, %v", tc.name, p, ok)
		}
		if got := Organization(tc.name); got != tc.org {
			t.Errorf("Organization(%q) = %q", tc.name, got)
		}
	}
	ancestry := []struct {
		a, d string
		want bool
	}{
		{"organizations/o1/tenants/t1", "organizations/o1/tenants/t1/services/s1", true},
		{"organizations/o1/tenants/t1", "organizations/o1/tenants/t1", true},
		{"organizations/o1/tenants/t1", "organizations/o1/tenants/t10", false},
		{"organizations/o1/tenants/t10", "organizations/o1/tenants/t1", false},
	}
	for _, tc := range ancestry {
		if got := IsAncestorOrSelf(tc.a, tc.d); got != tc.want {
			t.Errorf("IsAncestorOrSelf(%q, %q) = %v", tc.a, tc.d, got)
		}
	}
}

func TestParentDoesNotAllocate(t *testing.T) {
	s := "organizations/o1/tenants/t1/services/s1/folders/f1"
	if n := testing.AllocsPerRun(100, func() {
		for p, ok := s, true; ok; p, ok = Parent(p) {
			_ = IsAncestorOrSelf(p, s)
		}
	}); n != 0 {
		t.Errorf("walking ancestors allocates %v times", n)
	}
}

// FuzzParse checks that every accepted name round-trips and that string
// helpers agree with the parsed form.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"organizations/o1", "organizations/o1/tenants/t1/services/s1/folders/f1", "a/b/c", "//", "a/-", "organizations/o1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			return
		}
		if n.String() != s {
			t.Fatalf("round trip %q -> %q", s, n.String())
		}
		p, ok := Parent(s)
		if ok != (n.Len() > 1) || (ok && p != n.Parent().String()) {
			t.Fatalf("Parent(%q) = %q,%v; parsed parent %q", s, p, ok, n.Parent())
		}
		if Organization(s) != n.Root().String() {
			t.Fatalf("Organization(%q) = %q, root %q", s, Organization(s), n.Root())
		}
		if n.Segments()[0].Collection == "organizations" && OrganizationOf(s) != Organization(s) {
			t.Fatalf("OrganizationOf(%q) = %q, Organization %q", s, OrganizationOf(s), Organization(s))
		}
		if !IsAncestorOrSelf(n.Root().String(), s) {
			t.Fatalf("root of %q is not its ancestor", s)
		}
	})
}

func TestOrganizationOf(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"organizations/o1", "organizations/o1"},
		{"organizations/o1/users/u1", "organizations/o1"},
		{"organizations/o1/tenants/t1/services/s1/folders/f1", "organizations/o1"},
		{"organizations/o1/accountSystem", "organizations/o1"},
		{"organizations/o1/", "organizations/o1"},
		{"organizations/", ""},
		{"organizations//users/u1", ""},
		{"organizations", ""},
		{"Organizations/o1", ""},
		{"roles/owner", ""},
		{"services/directory", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := OrganizationOf(tc.in); got != tc.want {
			t.Errorf("OrganizationOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
