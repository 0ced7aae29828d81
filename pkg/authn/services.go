package authn

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// ServiceVerifier verifies the secret a caller presents for a service name:
// "Service <name>:<secret>" authenticates "services/<name>" only when the
// secret is that service's own. TrustedServices and *TrustedServicesFile
// implement it.
type ServiceVerifier interface {
	// VerifyService reports whether encodedSecret (base64url, as sent) is
	// the secret of the service called name.
	VerifyService(name, encodedSecret string) bool
}

// TrustedServices is what a Steward service knows of the services that may
// call it: each one's name with the SHA-256 of its secret. Holding it lets a
// service verify the others but not act as any of them, and a secret
// verifies only as the service it belongs to. The zero value trusts nobody.
//
// On disk (see LoadTrustedServices) it is a text file of lines "<name>
// <hex SHA-256 of the secret's bytes>"; blank lines and lines starting with
// "#" are ignored.
type TrustedServices struct {
	hashes map[string][sha256.Size]byte
}

// With returns a copy of t in which the service called name is verified by
// cred's secret. It panics if name is not a valid service name or cred is
// zero.
func (t TrustedServices) With(name string, cred ServiceCredential) TrustedServices {
	if !ValidServiceName(name) || cred.IsZero() {
		panic(fmt.Sprintf("authn: TrustedServices.With(%q, %v)", name, cred))
	}
	out := TrustedServices{hashes: maps.Clone(t.hashes)}
	if out.hashes == nil {
		out.hashes = make(map[string][sha256.Size]byte)
	}
	out.hashes[name] = cred.hash
	return out
}

// Names returns the names of the trusted services, sorted.
func (t TrustedServices) Names() []string { return slices.Sorted(maps.Keys(t.hashes)) }

// Trusts reports whether t verifies cred's secret as the service called
// name.
func (t TrustedServices) Trusts(name string, cred ServiceCredential) bool {
	h, ok := t.hashes[name]
	return ok && !cred.IsZero() && subtle.ConstantTimeCompare(h[:], cred.hash[:]) == 1
}

// VerifyService reports whether encodedSecret is the secret of the service
// called name. The comparison takes constant time.
func (t TrustedServices) VerifyService(name, encodedSecret string) bool {
	want, ok := t.hashes[name]
	if !ok {
		return false
	}
	secret, err := base64.RawURLEncoding.DecodeString(encodedSecret)
	if err != nil || len(secret) < secretLen {
		return false
	}
	got := sha256.Sum256(secret)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// MarshalText returns t in its file format, one service a line, sorted by
// name.
func (t TrustedServices) MarshalText() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Steward's trusted services: a service name, then the SHA-256 (hex) of its secret.\n")
	for _, name := range t.Names() {
		h := t.hashes[name]
		fmt.Fprintf(&b, "%s %s\n", name, hex.EncodeToString(h[:]))
	}
	return b.Bytes(), nil
}

// UnmarshalText parses the file format into t, refusing malformed lines,
// invalid service names and names listed twice.
func (t *TrustedServices) UnmarshalText(data []byte) error {
	hashes := make(map[string][sha256.Size]byte)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return fmt.Errorf("authn: trusted services line %d: want \"<service> <sha256 hex>\"", n)
		}
		name := fields[0]
		if !ValidServiceName(name) {
			return fmt.Errorf("authn: trusted services line %d: invalid service name %q", n, name)
		}
		if _, dup := hashes[name]; dup {
			return fmt.Errorf("authn: trusted services line %d: %s listed twice", n, name)
		}
		raw, err := hex.DecodeString(fields[1])
		if err != nil || len(raw) != sha256.Size {
			return fmt.Errorf("authn: trusted services line %d: the hash of %s is not 64 hex digits", n, name)
		}
		hashes[name] = [sha256.Size]byte(raw)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("authn: reading trusted services: %w", err)
	}
	t.hashes = hashes
	return nil
}

// maxTrustedServicesBytes bounds the size of a trusted-services file.
const maxTrustedServicesBytes = 1 << 20

// LoadTrustedServices reads the trusted-services file at path. A file
// writable by group or others is refused: whoever can write it can make up
// services.
func LoadTrustedServices(path string) (TrustedServices, error) {
	t, _, err := loadTrustedServices(path)
	return t, err
}

// fileStamp identifies a version of a file cheaply.
type fileStamp struct {
	mod  time.Time
	size int64
}

func loadTrustedServices(path string) (TrustedServices, fileStamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return TrustedServices{}, fileStamp{}, fmt.Errorf("authn: opening trusted services: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return TrustedServices{}, fileStamp{}, fmt.Errorf("authn: opening trusted services: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return TrustedServices{}, fileStamp{}, fmt.Errorf("authn: trusted services %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return TrustedServices{}, fileStamp{}, fmt.Errorf("authn: trusted services %s has mode %#o: it must not be writable by group or others", path, perm)
	}
	if fi.Size() > maxTrustedServicesBytes {
		return TrustedServices{}, fileStamp{}, fmt.Errorf("authn: trusted services %s is larger than %d bytes", path, maxTrustedServicesBytes)
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return TrustedServices{}, fileStamp{}, fmt.Errorf("authn: reading trusted services: %w", err)
	}
	var t TrustedServices
	if err := t.UnmarshalText(data); err != nil {
		return TrustedServices{}, fileStamp{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return t, fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// WriteTrustedServices replaces the file at path with t, atomically (a
// temporary file renamed into place), mode 0600.
func WriteTrustedServices(path string, t TrustedServices) (err error) {
	data, _ := t.MarshalText()
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return fmt.Errorf("authn: writing trusted services: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("authn: writing trusted services: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("authn: writing trusted services: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("authn: writing trusted services: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("authn: writing trusted services: %w", err)
	}
	return nil
}

// EnsureTrustedService makes the trusted-services file at path verify
// cred's secret as the service called name, creating the file when missing
// and adding or correcting name's line when needed (the rest is kept). It
// reports whether it changed the file. A service started on its own uses
// it, so that services started one by one find each other; the launcher
// writes the whole file instead.
func EnsureTrustedService(path, name string, cred ServiceCredential) (changed bool, err error) {
	t, _, err := loadTrustedServices(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, err
	case t.Trusts(name, cred):
		return false, nil
	}
	if err := WriteTrustedServices(path, t.With(name, cred)); err != nil {
		return false, err
	}
	return true, nil
}

// TrustedServicesFile verifies services against a trusted-services file,
// reading it again when a secret does not verify and the file has changed
// since (a service added or a secret rotated takes effect without a
// restart). It is safe for concurrent use.
type TrustedServicesFile struct {
	path string

	mu      sync.Mutex
	current TrustedServices // guarded by mu
	stamp   fileStamp       // of current; guarded by mu
}

// OpenTrustedServicesFile loads the trusted-services file at path.
func OpenTrustedServicesFile(path string) (*TrustedServicesFile, error) {
	t, stamp, err := loadTrustedServices(path)
	if err != nil {
		return nil, err
	}
	return &TrustedServicesFile{path: path, current: t, stamp: stamp}, nil
}

// VerifyService reports whether encodedSecret is the secret of the service
// called name, as the file says now. A file that has become unreadable or
// malformed keeps the last good contents.
func (f *TrustedServicesFile) VerifyService(name, encodedSecret string) bool {
	f.mu.Lock()
	current := f.current
	f.mu.Unlock()
	if current.VerifyService(name, encodedSecret) {
		return true
	}
	return f.reload().VerifyService(name, encodedSecret)
}

// reload reads the file again if its modification time or size changed,
// and returns what it now trusts.
func (f *TrustedServicesFile) reload() TrustedServices {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi, err := os.Stat(f.path)
	if err != nil || (fi.ModTime().Equal(f.stamp.mod) && fi.Size() == f.stamp.size) {
		return f.current
	}
	if t, stamp, err := loadTrustedServices(f.path); err == nil {
		f.current, f.stamp = t, stamp
	}
	return f.current
}
