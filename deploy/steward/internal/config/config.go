// Package config keeps the steward command line client's settings and
// session: the organization, the services' addresses and the access token
// of the last `steward login`, in a JSON file readable by its owner only.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// FileMode is the mode of the config file: it holds an access token.
const FileMode = 0o600

// DirMode is the mode of the directory made for the config file.
const DirMode = 0o700

// Config is what `steward login` remembers between commands.
type Config struct {
	// Organization is the resource name the user signed in to, e.g.
	// "organizations/acme".
	Organization string `json:"organization,omitempty"`
	// Principal is the signed-in user, e.g. "organizations/acme/users/ada".
	Principal string `json:"principal,omitempty"`
	// Email is the address the user signed in with.
	Email string `json:"email,omitempty"`
	// Directory, Access, Licensing and Audit are the services' gRPC
	// addresses used at login; flags and environment variables override them.
	Directory string `json:"directory,omitempty"`
	Access    string `json:"access,omitempty"`
	Licensing string `json:"licensing,omitempty"`
	Audit     string `json:"audit,omitempty"`
	// AccessToken is the token SignIn returned, sent as "Bearer <token>".
	AccessToken string `json:"access_token,omitempty"`
	// ExpireTime is when AccessToken expires.
	ExpireTime time.Time `json:"expire_time,omitzero"`
}

// DefaultPath returns where the config file lives:
// os.UserConfigDir()/steward/config.json.
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	return filepath.Join(dir, "steward", "config.json"), nil
}

// Load reads the config file at path. A missing file is an empty Config,
// not an error.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return &c, nil
}

// Save writes c to path with mode 0600, making its directory with mode 0700
// when missing. It writes a temporary file beside path and renames it, so
// that a reader never sees half a file, and tightens the mode of a file
// that was there before.
func (c *Config) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), DirMode); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.json")
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if err := tmp.Chmod(FileMode); err != nil {
		tmp.Close()
		return fmt.Errorf("config: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// LoggedIn reports whether c holds an access token that has not expired at now.
func (c *Config) LoggedIn(now time.Time) bool {
	return c.AccessToken != "" && (c.ExpireTime.IsZero() || now.Before(c.ExpireTime))
}

// Logout forgets the session (token, principal, email) and keeps the
// organization and addresses.
func (c *Config) Logout() {
	c.AccessToken, c.ExpireTime, c.Principal, c.Email = "", time.Time{}, "", ""
}
