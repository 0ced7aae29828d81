package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// secretLen is the size in bytes of a newly created service secret.
const secretLen = 32

// serviceNamePattern is what a service name ("directory", "audit") looks like.
var serviceNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// ValidServiceName reports whether name is a well-formed service name such as
// "directory": lowercase letters, digits and dashes, starting with a letter.
func ValidServiceName(name string) bool { return serviceNamePattern.MatchString(name) }

// ServiceCredential is one service's own secret. The service presents it to
// the others as
//
//	authorization: Service <its name>:<base64url secret>
//
// and they verify it against the SHA-256 they hold for that name
// (TrustedServices): each service has its own, and a secret authenticates
// only the service it belongs to. Its String, GoString and LogValue methods
// never reveal the secret. The zero value holds no secret.
type ServiceCredential struct {
	secret []byte
	hash   [sha256.Size]byte
}

// NewServiceCredential returns a credential holding secret, which must be at
// least 32 bytes long.
func NewServiceCredential(secret []byte) (ServiceCredential, error) {
	if len(secret) < secretLen {
		return ServiceCredential{}, fmt.Errorf("authn: service secret has %d bytes, want at least %d", len(secret), secretLen)
	}
	s := append([]byte(nil), secret...)
	return ServiceCredential{secret: s, hash: sha256.Sum256(s)}, nil
}

// LoadOrCreateServiceCredential reads the service secret stored at path,
// creating it with 32 random bytes and file mode 0600 when no file exists.
// Creation is atomic: the secret is written to a temporary file that is then
// hard-linked into place, which fails if another process won the race, in
// which case its file is read. An existing file readable or writable by group
// or others is refused.
func LoadOrCreateServiceCredential(path string) (ServiceCredential, error) {
	c, err := loadServiceCredential(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	secret := make([]byte, secretLen)
	if _, err := rand.Read(secret); err != nil {
		return ServiceCredential{}, fmt.Errorf("authn: generating service secret: %w", err)
	}
	if err := createExclusive(path, []byte(base64.RawURLEncoding.EncodeToString(secret)+"\n")); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadServiceCredential(path)
		}
		return ServiceCredential{}, err
	}
	return NewServiceCredential(secret)
}

// createExclusive writes data to a new file at path with mode 0600, failing
// with an error matching fs.ErrExist when path already exists. Readers never
// see a partially written file.
func createExclusive(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // O_EXCL, mode 0600
	if err != nil {
		return fmt.Errorf("authn: creating service credential: %w", err)
	}
	defer func() {
		if rmErr := os.Remove(tmp.Name()); rmErr != nil && err == nil {
			err = fmt.Errorf("authn: removing temporary file: %w", rmErr)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("authn: writing service credential: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("authn: writing service credential: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("authn: writing service credential: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("authn: creating service credential: %w", err)
	}
	return nil
}

func loadServiceCredential(path string) (ServiceCredential, error) {
	f, err := os.Open(path)
	if err != nil {
		return ServiceCredential{}, fmt.Errorf("authn: opening service credential: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ServiceCredential{}, fmt.Errorf("authn: opening service credential: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return ServiceCredential{}, fmt.Errorf("authn: service credential %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return ServiceCredential{}, fmt.Errorf("authn: service credential %s has mode %#o, want 0600 (no access for group or others)", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return ServiceCredential{}, fmt.Errorf("authn: reading service credential: %w", err)
	}
	secret, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return ServiceCredential{}, fmt.Errorf("authn: service credential %s is not base64url: %w", path, err)
	}
	return NewServiceCredential(secret)
}

// IsZero reports whether c holds no secret.
func (c ServiceCredential) IsZero() bool { return len(c.secret) == 0 }

// AuthorizationFor returns the authorization metadata value with which the
// service named service authenticates with c: "Service <service>:<secret>".
// It verifies only where c is trusted as service's own secret.
func (c ServiceCredential) AuthorizationFor(service string) string {
	return schemeService + " " + service + ":" + base64.RawURLEncoding.EncodeToString(c.secret)
}

// String returns a redacted description of c.
func (c ServiceCredential) String() string {
	if c.IsZero() {
		return "ServiceCredential(none)"
	}
	return "ServiceCredential(redacted)"
}

// GoString returns the same redacted description as String, for %#v.
func (c ServiceCredential) GoString() string { return c.String() }

// LogValue implements slog.LogValuer with the redacted description.
func (c ServiceCredential) LogValue() slog.Value { return slog.StringValue(c.String()) }
