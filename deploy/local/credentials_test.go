package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"steward.dev/pkg/authn"
	"steward.dev/pkg/backend"
)

// The launcher gives every service its own secret and writes the hashes of
// all of them; a second run keeps the secrets.
func TestWriteCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "credentials")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	created, err := writeCredentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created, backend.ServiceNames) {
		t.Errorf("created %q, want %q", created, backend.ServiceNames)
	}
	creds := map[string]authn.ServiceCredential{}
	for _, name := range backend.ServiceNames {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", name, fi.Mode().Perm())
		}
		if creds[name], err = authn.LoadOrCreateServiceCredential(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if created, err = writeCredentials(dir); err != nil || len(created) != 0 {
		t.Fatalf("second run: created %q, %v", created, err)
	}
	trusted, err := authn.LoadTrustedServices(filepath.Join(dir, backend.TrustedServicesFileName))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range creds {
		if !trusted.Trusts(name, c) {
			t.Errorf("the trusted services do not verify %s", name)
		}
		for other := range creds {
			if other != name && trusted.Trusts(other, c) {
				t.Errorf("%s's secret verifies as %s", name, other)
			}
		}
	}
}
