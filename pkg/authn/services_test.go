package authn_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"steward.dev/pkg/authn"
)

// secretOf returns the base64url secret of c, as a caller sends it.
func secretOf(c authn.ServiceCredential) string {
	return strings.TrimPrefix(c.AuthorizationFor("x"), "Service x:")
}

func credential(t *testing.T, b byte) authn.ServiceCredential {
	t.Helper()
	c, err := authn.NewServiceCredential([]byte(strings.Repeat(string(b), 32)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTrustedServicesRoundTrip(t *testing.T) {
	dir, acc := credential(t, 'd'), credential(t, 'a')
	ts := authn.TrustedServices{}.With("directory", dir).With("access", acc)
	data, err := ts.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), secretOf(dir)) {
		t.Fatal("the file holds a secret")
	}
	var back authn.TrustedServices
	if err := back.UnmarshalText(data); err != nil {
		t.Fatal(err)
	}
	if got := back.Names(); !slices.Equal(got, []string{"access", "directory"}) {
		t.Errorf("Names = %q", got)
	}
	for _, tt := range []struct {
		name   string
		secret string
		want   bool
	}{
		{"directory", secretOf(dir), true},
		{"access", secretOf(acc), true},
		{"access", secretOf(dir), false}, // a secret verifies only as its own service
		{"audit", secretOf(dir), false},
		{"directory", "not base64!", false},
		{"directory", "", false},
	} {
		if got := back.VerifyService(tt.name, tt.secret); got != tt.want {
			t.Errorf("VerifyService(%s, %.8q...) = %v, want %v", tt.name, tt.secret, got, tt.want)
		}
	}
	if !back.Trusts("access", acc) || back.Trusts("access", dir) {
		t.Error("Trusts does not bind the secret to its name")
	}
}

func TestTrustedServicesParseErrors(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for name, text := range map[string]string{
		"one field":      "directory\n",
		"three fields":   "directory " + hash + " extra\n",
		"bad name":       "Directory " + hash + "\n",
		"short hash":     "directory abcd\n",
		"not hex":        "directory " + strings.Repeat("zz", 32) + "\n",
		"listed twice":   "directory " + hash + "\ndirectory " + hash + "\n",
		"garbage inline": "directory " + hash + " # comment\n",
	} {
		var ts authn.TrustedServices
		if err := ts.UnmarshalText([]byte(text)); err == nil {
			t.Errorf("%s: parsed %q", name, text)
		}
	}
	var ts authn.TrustedServices
	if err := ts.UnmarshalText([]byte("# comment\n\n  directory " + hash + "  \n")); err != nil || len(ts.Names()) != 1 {
		t.Errorf("comments and blanks: %v, %q", err, ts.Names())
	}
}

func TestLoadTrustedServicesRefusesWritableByOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "services.sha256")
	if err := authn.WriteTrustedServices(path, authn.TrustedServices{}.With("directory", credential(t, 'd'))); err != nil {
		t.Fatal(err)
	}
	if _, err := authn.LoadTrustedServices(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // readable is fine: it holds no secret
		t.Fatal(err)
	}
	if _, err := authn.LoadTrustedServices(path); err != nil {
		t.Fatalf("0644: %v", err)
	}
	if err := os.Chmod(path, 0o664); err != nil {
		t.Fatal(err)
	}
	if _, err := authn.LoadTrustedServices(path); err == nil || !strings.Contains(err.Error(), "writable") {
		t.Errorf("0664: err = %v, want a mode error", err)
	}
}

func TestEnsureTrustedService(t *testing.T) {
	path := filepath.Join(t.TempDir(), "services.sha256")
	dir, acc, acc2 := credential(t, 'd'), credential(t, 'a'), credential(t, 'b')
	steps := []struct {
		name        string
		service     string
		cred        authn.ServiceCredential
		wantChanged bool
		wantNames   []string
	}{
		{"creates the file", "directory", dir, true, []string{"directory"}},
		{"keeps a matching line", "directory", dir, false, []string{"directory"}},
		{"adds a service", "access", acc, true, []string{"access", "directory"}},
		{"corrects a rotated secret", "access", acc2, true, []string{"access", "directory"}},
	}
	for _, s := range steps {
		changed, err := authn.EnsureTrustedService(path, s.service, s.cred)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if changed != s.wantChanged {
			t.Errorf("%s: changed = %v, want %v", s.name, changed, s.wantChanged)
		}
		ts, err := authn.LoadTrustedServices(path)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ts.Names(), s.wantNames) || !ts.Trusts(s.service, s.cred) {
			t.Errorf("%s: file trusts %q", s.name, ts.Names())
		}
	}
	ts, _ := authn.LoadTrustedServices(path)
	if ts.Trusts("access", acc) || !ts.Trusts("directory", dir) {
		t.Error("the old secret still verifies, or another line was lost")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want 1 (temporary file left behind?)", len(entries))
	}
}

// A service that starts later adds itself to the file; services already
// running verify it without a restart.
func TestTrustedServicesFileReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "services.sha256")
	dir, acc := credential(t, 'd'), credential(t, 'a')
	if _, err := authn.EnsureTrustedService(path, "directory", dir); err != nil {
		t.Fatal(err)
	}
	f, err := authn.OpenTrustedServicesFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.VerifyService("access", secretOf(acc)) {
		t.Fatal("access verified before it was added")
	}
	if _, err := authn.EnsureTrustedService(path, "access", acc); err != nil {
		t.Fatal(err)
	}
	// The file's modification time may not have moved within its
	// resolution; its size has.
	if !f.VerifyService("access", secretOf(acc)) {
		t.Error("access not verified after it was added")
	}
	// A file broken later keeps the last good contents.
	if err := os.WriteFile(path, []byte("broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	if !f.VerifyService("directory", secretOf(dir)) || f.VerifyService("directory", secretOf(acc)) {
		t.Error("a broken file changed what verifies")
	}
	if _, err := authn.OpenTrustedServicesFile(path); err == nil {
		t.Error("OpenTrustedServicesFile accepted a broken file")
	}
}
