// Package credentials_test checks make-credentials.sh: the files it writes
// are what the services load (pkg/authn), each secret verified by its own
// line of services.sha256 and by no other.
package credentials_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"steward.dev/deploy/internal/programs"
	"steward.dev/pkg/authn"
)

func TestMakeCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "creds")
	out, err := exec.Command("bash", "make-credentials.sh", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("make-credentials.sh: %v\n%s", err, out)
	}
	trusted, err := authn.OpenTrustedServicesFile(filepath.Join(dir, "services.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{} // each service's secret as sent
	for _, p := range programs.All {
		path := filepath.Join(dir, p.Name)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %#o, want 0600", path, fi.Mode().Perm())
		}
		// As a service loads it (the file exists: nothing is created).
		if _, err := authn.LoadOrCreateServiceCredential(path); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		secrets[p.Name] = strings.TrimSpace(string(data))
	}
	for name, secret := range secrets {
		for other := range secrets {
			if got, want := trusted.VerifyService(other, secret), other == name; got != want {
				t.Errorf("%s's secret verifies as %s: %v, want %v", name, other, got, want)
			}
		}
	}

	// A second run refuses to overwrite.
	if out, err := exec.Command("bash", "make-credentials.sh", dir).CombinedOutput(); err == nil {
		t.Errorf("a second run into %s succeeded:\n%s", dir, out)
	}
}
