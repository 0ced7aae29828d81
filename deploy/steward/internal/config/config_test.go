package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "steward", "config.json")
	if c, err := Load(path); err != nil || *c != (Config{}) {
		t.Fatalf("Load of a missing file = %+v, %v; want empty, nil", c, err)
	}
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	want := Config{Organization: "organizations/acme", Principal: "organizations/acme/users/ada", Email: "ada@acme.example",
		Directory: "127.0.0.1:1", Access: "127.0.0.1:2", Licensing: "127.0.0.1:3", Audit: "127.0.0.1:4",
		AccessToken: "tok", ExpireTime: exp}
	if err := want.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != FileMode {
		t.Errorf("config file mode %#o, want %#o", perm, FileMode)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != DirMode {
		t.Errorf("config directory mode %#o, want %#o", perm, DirMode)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExpireTime.Equal(want.ExpireTime) {
		t.Errorf("ExpireTime = %v, want %v", got.ExpireTime, want.ExpireTime)
	}
	got.ExpireTime = want.ExpireTime
	if *got != want {
		t.Errorf("Load = %+v, want %+v", *got, want)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("config directory holds %d entries, want only config.json", len(entries))
	}
}

// TestSaveTightensMode: a file left readable by others (by hand, or an
// older client) is 0600 again after the next Save.
func TestSaveTightensMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (&Config{AccessToken: "secret"}).Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != FileMode {
		t.Errorf("mode after Save = %#o, want %#o", perm, FileMode)
	}
}

func TestLoadCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil {
		t.Error("Load of a corrupt file succeeded")
	}
}

func TestLoggedInAndLogout(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c := Config{Organization: "organizations/acme", Directory: "d", AccessToken: "tok", Principal: "p", Email: "e", ExpireTime: now.Add(time.Minute)}
	if !c.LoggedIn(now) {
		t.Error("LoggedIn before expiry = false")
	}
	if c.LoggedIn(now.Add(time.Hour)) {
		t.Error("LoggedIn after expiry = true")
	}
	c.Logout()
	if c.LoggedIn(now) || c.Principal != "" || c.Email != "" {
		t.Errorf("after Logout: %+v", c)
	}
	if c.Organization != "organizations/acme" || c.Directory != "d" {
		t.Errorf("Logout forgot the organization or addresses: %+v", c)
	}
}
