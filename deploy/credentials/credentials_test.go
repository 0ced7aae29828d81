// Package credentials_test checks make-credentials.sh: the files it writes
// are what the services load (pkg/authn), each secret verified by its own
// line of services.sha256 and by no other; and make-tls.sh's certificates.
package credentials_test

import (
	"crypto/tls"
	"crypto/x509"
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

// make-tls.sh's certificates verify against its CA as each backend's
// server certificate under the addresses of deploy/kubernetes (and
// loopback), and as its client certificate, CommonName steward-<service>;
// the keys load as Go's TLS loads them.
func TestMakeTLS(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	dir := filepath.Join(t.TempDir(), "tls")
	if out, err := exec.Command("bash", "make-tls.sh", dir, "steward").CombinedOutput(); err != nil {
		t.Fatalf("make-tls.sh: %v\n%s", err, out)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in ca.crt")
	}
	for _, p := range programs.All {
		if !p.Backend {
			continue
		}
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, p.Name+".crt"), filepath.Join(dir, p.Name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		cert := pair.Leaf
		if cert == nil {
			t.Fatalf("%s.crt: no leaf", p.Name)
		}
		if want := "steward-" + p.Name; cert.Subject.CommonName != want {
			t.Errorf("%s.crt: CommonName %q, want %q", p.Name, cert.Subject.CommonName, want)
		}
		for _, name := range []string{p.Name + ".steward.svc", p.Name, "127.0.0.1"} {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("%s.crt as the server %s: %v", p.Name, name, err)
			}
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s.crt as a client: %v", p.Name, err)
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "gateway.steward.svc"}); err == nil {
			t.Errorf("%s.crt verifies as the gateway's", p.Name)
		}
	}
	if out, err := exec.Command("bash", "make-tls.sh", dir).CombinedOutput(); err == nil {
		t.Errorf("a second run into %s succeeded:\n%s", dir, out)
	}
}
