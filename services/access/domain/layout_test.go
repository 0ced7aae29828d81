package domain

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	accessv1 "steward.dev/gen/steward/access/v1"
	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

// lyWorld makes, in a new store at path, dtSetup's organization (its
// built-in assignments) plus assignments of a custom role and of built-in
// ones at several scopes, and closes it.
func lyWorld(t *testing.T, path string) {
	t.Helper()
	st, s := dtOpen(t, path)
	defer st.Close()
	dtSetup(t, st, s)
	ctx, system := context.Background(), Actor{Name: "services/test"}
	role, err := s.CreateRole(ctx, system, &accessv1.CreateRoleRequest{Parent: dtOrg, RoleId: "folder-viewer", Role: &accessv1.Role{
		DisplayName: "Folder viewer", Level: accessv1.Level_LEVEL_FOLDER, ServiceType: "orchestrator",
		Permissions: []string{"orchestrator.jobs.view"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []*accessv1.CreateRoleAssignmentRequest{
		{Parent: dtOrg, Principal: dtJohn, Scope: dtFolder, Roles: []string{role.GetName(), "roles/automation-user"}},
		{Parent: dtOrg, Principal: dtJohn, Scope: dtShared, Roles: []string{role.GetName()}},
		{Parent: dtOrg, Principal: dtAutoD, Scope: dtFolder, Roles: []string{role.GetName()}},
		{Parent: dtOrg, Principal: dtIdle, Scope: dtOrg, Roles: []string{"roles/user"}},
	} {
		if _, err := s.CreateRoleAssignment(ctx, system, req); err != nil {
			t.Fatal(err)
		}
	}
}

// lyRecords returns the assignment records of tx.
func lyRecords(t *testing.T, tx store.ReadTx) []*accessv1.RoleAssignment {
	t.Helper()
	var as []*accessv1.RoleAssignment
	err := tx.Scan([]byte(assignmentPrefix), nil, func(k, v []byte) (bool, error) {
		a, err := decodeAssignment(k, v)
		as = append(as, a)
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

// lyAnswers returns, as text, every answer the indexes give about the
// assignments of the store at path: each assignment found by its
// principal, role and scope; the assignments of each principal, at each
// scope, under the organization and the service, of each custom role.
func lyAnswers(t *testing.T, st store.Store) []string {
	t.Helper()
	var out []string
	names := func(what string, as []*accessv1.RoleAssignment, err error) {
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, a := range as {
			ns = append(ns, a.GetName())
		}
		out = append(out, what+": "+strings.Join(ns, " "))
	}
	err := st.View(context.Background(), func(tx store.ReadTx) error {
		principals, scopes, roles := map[string]bool{}, map[string]bool{}, map[string]bool{}
		for _, a := range lyRecords(t, tx) {
			name, err := findAssignment(tx, a.GetPrincipal(), a.GetRole(), a.GetScope())
			if err != nil {
				return err
			}
			out = append(out, "find "+a.GetPrincipal()+" "+a.GetRole()+" "+a.GetScope()+": "+name)
			principals[a.GetPrincipal()], scopes[a.GetScope()], roles[a.GetRole()] = true, true, true
		}
		for p := range principals {
			as, err := assignmentsOfPrincipal(tx, p)
			names("principal "+p, as, err)
		}
		for sc := range scopes {
			as, err := assignmentsAt(tx, sc)
			names("at "+sc, as, err)
		}
		for _, sc := range []string{dtOrg, dtService} {
			as, err := assignmentsUnder(tx, sc)
			names("under "+sc, as, err)
		}
		for r := range roles {
			if !strings.HasPrefix(r, BuiltInRolePrefix) {
				as, err := assignmentsOfRole(tx, r)
				names("role "+r, as, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// lyKeys returns the keys of st under prefix.
func lyKeys(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	var keys []string
	err := st.View(context.Background(), func(tx store.ReadTx) error {
		keys, _ = keysUnder(tx, prefix)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// lyUpdate opens the store at path without a Service, runs fn in one
// transaction and closes it.
func lyUpdate(t *testing.T, path string, fn func(tx store.Tx) error) {
	t.Helper()
	st, err := bboltstore.Open(path, bboltstore.Options{Unordered: UnorderedKeyRanges})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// lyWriteLayout1 makes tx as layout 1 wrote it (before issue 13): records
// holding their names, indexes with full names everywhere, every role
// indexed, the triple in its own range, and no layout key.
func lyWriteLayout1(t *testing.T, tx store.Tx) error {
	t.Helper()
	for _, p := range []string{byPrincipal, byScope, byRole, layoutKey} {
		keys, err := keysUnder(tx, p)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete([]byte(k)); err != nil {
				return err
			}
		}
	}
	for _, a := range lyRecords(t, tx) {
		n := a.GetName()
		if err := store.PutProto(tx, []byte(assignmentPrefix+n), a); err != nil {
			return err
		}
		for k, v := range map[string]string{
			"x/principal/" + a.GetPrincipal() + "|" + n:                             "",
			"x/scope/" + a.GetScope() + "|" + n:                                     "",
			"x/role/" + a.GetRole() + "|" + n:                                       "",
			"x/triple/" + a.GetPrincipal() + "|" + a.GetRole() + "|" + a.GetScope(): n,
		} {
			if err := tx.Put([]byte(k), []byte(v)); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestIndexLayoutUpgrade (issue 13): a store whose assignment indexes were
// written by layout 1 (full resource names in every key, a triple index of
// its own) opens with them rebuilt in the current layout, in several
// transactions: every index answers as a store written in the current
// layout does, the old ranges are gone, and the layout is recorded. The
// upgraded store then serves changes and opens again without a rebuild.
func TestIndexLayoutUpgrade(t *testing.T) {
	defer func(n int) { rebuildBatch = n }(rebuildBatch)
	rebuildBatch = 3

	path := filepath.Join(t.TempDir(), "access.db")
	lyWorld(t, path)
	st, _ := dtOpen(t, path)
	want := lyAnswers(t, st)
	wantKeys := map[string][]string{}
	for _, p := range []string{byPrincipal, byScope, byRole} {
		wantKeys[p] = lyKeys(t, st, p)
	}
	_ = st.Close()
	if len(want) < 20 {
		t.Fatalf("too few answers to compare:\n%s", strings.Join(want, "\n"))
	}
	lyNamesStored(t, path, false)

	lyUpdate(t, path, func(tx store.Tx) error { return lyWriteLayout1(t, tx) })
	lyNamesStored(t, path, true)
	st, s := dtOpen(t, path)
	if got := lyAnswers(t, st); !slices.Equal(got, want) {
		t.Errorf("answers after the upgrade:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for p, keys := range wantKeys {
		if got := lyKeys(t, st, p); !slices.Equal(got, keys) {
			t.Errorf("%s after the upgrade: %q, want %q", p, got, keys)
		}
	}
	for _, p := range oldIndexPrefixes {
		if got := lyKeys(t, st, p); len(got) > 0 {
			t.Errorf("%s kept after the upgrade: %q", p, got)
		}
	}
	err := st.View(context.Background(), func(tx store.ReadTx) error {
		v, err := store.GetUint64(tx, []byte(layoutKey))
		if err == nil && v != indexLayout {
			t.Errorf("layout %d, want %d", v, indexLayout)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// The upgraded store serves through its indexes, and opens again
	// without a rebuild (which would drop the marker).
	ctx := context.Background()
	if err := s.DeleteRoleAssignment(ctx, Actor{Name: "services/test"}, &accessv1.DeleteRoleAssignmentRequest{Name: lyFind(t, st, dtJohn, "roles/automation-user", dtFolder)}); err != nil {
		t.Fatal(err)
	}
	if got := lyKeys(t, st, byPrincipal+dtJohn+"|"+dtFolder+"|roles/automation-user"); len(got) > 0 {
		t.Errorf("index entries left by the deletion: %q", got)
	}
	_ = st.Close()
	marker := byScope + dtFolder + "|marker"
	lyUpdate(t, path, func(tx store.Tx) error { return tx.Put([]byte(marker), nil) })
	st, _ = dtOpen(t, path)
	defer st.Close()
	if got := lyKeys(t, st, marker); len(got) != 1 {
		t.Errorf("a store of the current layout was rebuilt at open")
	}
}

// TestIndexLayoutRebuiltOrRefused (issue 13): a store of the current
// layout in which a layout-1 range holds keys again (a binary of the old
// layout ran on it after the upgrade) is rebuilt from its records: the old
// keys and a stale entry of the current layout are gone, every answer is
// as before. A store of a newer layout does not open.
func TestIndexLayoutRebuiltOrRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.db")
	lyWorld(t, path)
	st, _ := dtOpen(t, path)
	want := lyAnswers(t, st)
	_ = st.Close()

	stale := byScope + dtFolder + "|stale"
	lyUpdate(t, path, func(tx store.Tx) error {
		if err := tx.Put([]byte(stale), nil); err != nil {
			return err
		}
		return tx.Put([]byte("x/triple/"+dtJohn+"|roles/user|"+dtOrg), []byte(dtOrg+"/roleAssignments/gone"))
	})
	st, _ = dtOpen(t, path)
	if got := lyAnswers(t, st); !slices.Equal(got, want) {
		t.Errorf("answers after the rebuild:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := append(lyKeys(t, st, stale), lyKeys(t, st, "x/triple/")...); len(got) > 0 {
		t.Errorf("kept by the rebuild: %q", got)
	}
	_ = st.Close()

	lyUpdate(t, path, func(tx store.Tx) error { return store.PutUint64(tx, []byte(layoutKey), indexLayout+1) })
	st, err := bboltstore.Open(path, bboltstore.Options{Unordered: UnorderedKeyRanges})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := upgradeIndexes(context.Background(), st, slog.Default()); err == nil || !strings.Contains(err.Error(), "layout 3") {
		t.Errorf("opening a store of layout %d: %v, want an error", indexLayout+1, err)
	}
}

// lyFind returns the name of principal's assignment of role at scope in st.
func lyFind(t *testing.T, st store.Store, principal, role, scope string) string {
	t.Helper()
	var name string
	err := st.View(context.Background(), func(tx store.ReadTx) error {
		var err error
		name, err = findAssignment(tx, principal, role, scope)
		return err
	})
	if err != nil || name == "" {
		t.Fatalf("findAssignment(%s, %s, %s) = %q, %v", principal, role, scope, name, err)
	}
	return name
}

// TestAssignmentRef (issue 13): an index refers to an assignment of its
// key's organization by ID, to any other by its whole name, and either
// reference gives the name back.
func TestAssignmentRef(t *testing.T) {
	for _, c := range []struct{ org, name, ref string }{
		{dtOrg, dtOrg + "/roleAssignments/a1", "a1"},
		{dtOrg, "organizations/other/roleAssignments/a1", "organizations/other/roleAssignments/a1"},
		{dtOrg, dtOrg + "x/roleAssignments/a1", dtOrg + "x/roleAssignments/a1"},
		{dtOrg, dtOrg + "/roleAssignments/a1/b", dtOrg + "/roleAssignments/a1/b"},
		{"", "organizations/o/roleAssignments/a1", "organizations/o/roleAssignments/a1"},
	} {
		ref := assignmentRef(c.org, c.name)
		if ref != c.ref {
			t.Errorf("assignmentRef(%q, %q) = %q, want %q", c.org, c.name, ref, c.ref)
		}
		if got := assignmentNamed(c.org, ref); got != c.name {
			t.Errorf("assignmentNamed(%q, %q) = %q, want %q", c.org, ref, got, c.name)
		}
	}
}

// lyNamesStored checks whether the assignment records of the store at path
// hold their names: those written since issue 13 do not (the key does).
func lyNamesStored(t *testing.T, path string, want bool) {
	t.Helper()
	lyUpdate(t, path, func(tx store.Tx) error {
		return tx.Scan([]byte(assignmentPrefix), nil, func(k, v []byte) (bool, error) {
			a := &accessv1.RoleAssignment{}
			if err := proto.Unmarshal(v, a); err != nil {
				return false, err
			}
			if got := a.GetName() != ""; got != want {
				t.Errorf("record %s holds its name: %v, want %v", k, got, want)
			}
			return true, nil
		})
	})
}
