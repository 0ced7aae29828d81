package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestReadManifestBefore reads a manifest written before Owner and
// Membership existed: ReadManifest completes it from its Spec.
func TestReadManifestBefore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manifest.json")
	old := `{"spec": {"name": "small", "seed": 13, "tenants": 1, "services": 2, "folders": 50, "depth": 4, "users": 100, "groups": 10,
		"min_groups": 1, "max_groups": 3, "assignments": 500, "probes": 200},
	"organization": "organizations/bench", "api_key": {"secret": "s"},
	"probes": [{"principal": "organizations/bench/users/u1", "permission": "orchestrator.jobs.create", "scope": "x", "allowed": true}]}`
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Generate(Small)
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.MembershipTarget()
	if err != nil {
		t.Fatal(err)
	}
	if m.Membership == nil || !reflect.DeepEqual(*m.Membership, want) {
		t.Errorf("Membership = %+v, want %+v", m.Membership, want)
	}
	if m.Owner != (Credentials{Email: ownerEmail, Password: ownerPassword}) {
		t.Errorf("Owner = %+v, want the dataset's owner", m.Owner)
	}
}
