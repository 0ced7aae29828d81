// Package records holds what every Steward service does with its stored
// protobuf records (AIP conventions over pkg/store): etags (AIP-154),
// field-mask updates (AIP-134), idempotent creates keyed by request_id
// (AIP-155) and paged key-ordered listings (AIP-158).
package records

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/store"
)

// FieldError is an invalid argument that the protos' validation rules
// cannot express (an unknown update_mask path, a bad page token). Services
// return it as InvalidArgument with a field violation.
type FieldError struct {
	// Field is the request field's path, e.g. "update_mask".
	Field string
	// Description says what is wrong.
	Description string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Description }

// FieldErrorf returns a *FieldError on field.
func FieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Description: fmt.Sprintf(format, args...)}
}

// ErrRequestIDReused is returned by Idempotent when a request_id comes back
// with a different request.
var ErrRequestIDReused = errors.New("request_id was used for a different request")

// field returns m's field named name; it panics if there is none (a
// programming error that every test touching the record catches).
func field(m proto.Message, name string) protoreflect.FieldDescriptor {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic("records: " + string(m.ProtoReflect().Descriptor().FullName()) + " has no field " + name)
	}
	return fd
}

// String returns m's string field name.
func String(m proto.Message, name string) string {
	return m.ProtoReflect().Get(field(m, name)).String()
}

// SetTime sets m's timestamp field name to t (update_time, create_time).
func SetTime(m proto.Message, name string, t time.Time) {
	m.ProtoReflect().Set(field(m, name), protoreflect.ValueOfMessage(timestamppb.New(t).ProtoReflect()))
}

// Etag returns the etag of a record: a hash of its deterministic encoding
// with its "etag" field cleared.
func Etag(m proto.Message) string {
	c := proto.Clone(m)
	c.ProtoReflect().Clear(field(c, "etag"))
	b, err := store.Marshal(c)
	if err != nil {
		panic("records: marshal for etag: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// SetEtag computes m's etag and stores it in its "etag" field.
func SetEtag(m proto.Message) {
	m.ProtoReflect().Set(field(m, "etag"), protoreflect.ValueOfString(Etag(m)))
}

// ApplyMask copies into dst the fields of src named by paths (AIP-134). An
// empty paths list means every field in allowed; a path outside allowed is
// a *FieldError on "update_mask".
func ApplyMask(dst, src proto.Message, paths []string, allowed ...string) error {
	if len(paths) == 0 {
		paths = allowed
	}
	for _, p := range paths {
		if !contains(allowed, p) {
			return FieldErrorf("update_mask", "%q cannot be updated; updatable fields: %s", p, strings.Join(allowed, ", "))
		}
	}
	for _, p := range paths {
		fd := field(dst, p)
		if src.ProtoReflect().Has(fd) {
			dst.ProtoReflect().Set(fd, src.ProtoReflect().Get(fd))
		} else {
			dst.ProtoReflect().Clear(fd)
		}
	}
	return nil
}

// MaskHas reports whether an update with mask paths touches path (an empty
// mask touches every allowed field).
func MaskHas(paths []string, path string) bool {
	return len(paths) == 0 || contains(paths, path)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// idempotencyRecord remembers the outcome of a request with a request_id.
type idempotencyRecord struct {
	// Request is RequestHash of the request.
	Request string `json:"request"`
	// Response is the deterministic encoding of the response.
	Response []byte `json:"response"`
}

// RequestHash returns the hex SHA-256 that Idempotent keeps of req: over
// the request message's full name (proto.MessageName) and its deterministic
// encoding, so that two methods whose requests happen to encode alike
// (CreateTenantRequest and CreateDepartmentRequest share their field
// layout) never answer each other's request_id. The hash is fast and
// stored: callers pass a copy of req with its secret fields (passwords)
// cleared, never the secrets themselves.
func RequestHash(req proto.Message) (string, error) {
	b, err := store.Marshal(req)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(proto.MessageName(req)))
	h.Write([]byte{0}) // a full name never holds a NUL: unambiguous framing
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Idempotent makes a create retryable (AIP-155). The first time key is
// seen it runs do, which must fill resp, and stores resp under key in tx.
// When key was seen with the same req (same message type, same content), it
// fills resp with the stored response and reports true without running do;
// with another req it fails with ErrRequestIDReused. Callers build key from
// the caller's scope and the request_id, and skip Idempotent when there is
// no request_id. Only RequestHash(req) is stored, so req should carry no
// secret (see RequestHash).
func Idempotent(tx store.Tx, key []byte, req, resp proto.Message, do func() error) (bool, error) {
	reqHash, err := RequestHash(req)
	if err != nil {
		return false, err
	}
	stored, err := tx.Get(key)
	switch {
	case err == nil:
		var rec idempotencyRecord
		if err := json.Unmarshal(stored, &rec); err != nil {
			return false, fmt.Errorf("records: idempotency record %s: %w", key, err)
		}
		if rec.Request != reqHash {
			return false, ErrRequestIDReused
		}
		return true, proto.Unmarshal(rec.Response, resp)
	case !errors.Is(err, store.ErrNotFound):
		return false, err
	}
	if err := do(); err != nil {
		return false, err
	}
	out, err := store.Marshal(resp)
	if err != nil {
		return false, err
	}
	rec, err := json.Marshal(idempotencyRecord{Request: reqHash, Response: out})
	if err != nil {
		return false, err
	}
	return false, tx.Put(key, rec)
}

// Page sizes of List methods (AIP-158).
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// PageSize returns the page size a request asks for, defaulted and capped.
func PageSize(requested int32) int {
	if requested <= 0 {
		return DefaultPageSize
	}
	return min(int(requested), MaxPageSize)
}

// InvalidPageToken returns the *FieldError on "page_token" of a token that
// does not belong to the request: malformed, or made for other parameters.
func InvalidPageToken() error {
	return FieldErrorf("page_token", "invalid page token (it must come from a previous page of the same request)")
}

// Page scans the records stored under the store-key prefix in key order,
// starting after pageToken, and returns up to pageSize of those keep
// accepts, plus the next page token. With directOnly, keys with a further
// "/" after prefix are skipped (only direct children of a collection).
// fingerprint binds the token to the request's other parameters; a token
// that does not match is a *FieldError on "page_token".
func Page[T proto.Message](tx store.ReadTx, prefix []byte, directOnly bool, pageToken string, pageSize int32, fingerprint uint64, newT func() T, keep func(T) (bool, error)) ([]T, string, error) {
	return PageDecoded(tx, prefix, directOnly, pageToken, pageSize, fingerprint, func(_, v []byte) (T, bool, error) {
		m := newT()
		if err := proto.Unmarshal(v, m); err != nil {
			return m, false, err
		}
		ok, err := keep(m)
		return m, ok, err
	})
}

// PageDecoded is Page for records that need their key to be read: decode
// returns the item stored at key k with value v and whether to keep it.
func PageDecoded[T any](tx store.ReadTx, prefix []byte, directOnly bool, pageToken string, pageSize int32, fingerprint uint64, decode func(k, v []byte) (T, bool, error)) ([]T, string, error) {
	after, err := pagetoken.Decode(pageToken, fingerprint)
	if err != nil {
		return nil, "", InvalidPageToken()
	}
	size := PageSize(pageSize)
	var start []byte
	if after != nil {
		start = append(after, 0)
	}
	var out []T
	var next string
	var lastKey []byte
	err = tx.Scan(prefix, start, func(k, v []byte) (bool, error) {
		if directOnly && strings.Contains(string(k[len(prefix):]), "/") {
			return true, nil
		}
		if len(out) == size {
			next = pagetoken.Encode(lastKey, fingerprint)
			return false, nil
		}
		m, ok, err := decode(k, v)
		if err != nil || !ok {
			return err == nil, err
		}
		out = append(out, m)
		lastKey = append(lastKey[:0], k...)
		return true, nil
	})
	return out, next, err
}

// Keyed is an item of a list built in memory, with the key that orders it
// and that page tokens carry.
type Keyed[T any] struct {
	// Key orders the item; keys are unique within a list.
	Key string
	// Item is what the page returns.
	Item T
}

// SlicePage is Page for lists that are not one key range of the store
// (defaults before custom records, merged index scans): it sorts items by
// Key, in place, and returns those after the key pageToken carries, up to
// pageSize, plus the next page token ("" on the last page). fingerprint
// binds the token to the request's other parameters; a token that does not
// match is a *FieldError on "page_token".
func SlicePage[T any](items []Keyed[T], pageToken string, pageSize int32, fingerprint uint64) ([]T, string, error) {
	after, err := pagetoken.Decode(pageToken, fingerprint)
	if err != nil {
		return nil, "", InvalidPageToken()
	}
	slices.SortFunc(items, func(a, b Keyed[T]) int { return strings.Compare(a.Key, b.Key) })
	i := 0
	if after != nil {
		i, _ = slices.BinarySearchFunc(items, string(after), func(it Keyed[T], k string) int { return strings.Compare(it.Key, k) })
		if i < len(items) && items[i].Key == string(after) {
			i++
		}
	}
	size := PageSize(pageSize)
	out := []T{}
	for ; i < len(items) && len(out) < size; i++ {
		out = append(out, items[i].Item)
	}
	next := ""
	if i < len(items) && len(out) > 0 {
		next = pagetoken.Encode([]byte(items[i-1].Key), fingerprint)
	}
	return out, next, nil
}

// ItemError is the error of one item of a batch request (AIP-233): which
// item, and what is wrong with it. Servers return the item's own status
// with the item named (apierr.InItem).
type ItemError struct {
	// Item is the item's field path, e.g. "requests[3]".
	Item string
	// Err is the item's error.
	Err error
}

func (e *ItemError) Error() string { return e.Item + ": " + e.Err.Error() }

// Unwrap returns the item's error.
func (e *ItemError) Unwrap() error { return e.Err }

// AtItem returns err as the error of item i of the batch field named field
// (e.g. "requests"): a *FieldError moves under the item
// ("requests[3].scope"); any other error becomes an *ItemError naming
// "requests[3]". AtItem of nil is nil.
func AtItem(field string, i int, err error) error {
	if err == nil {
		return nil
	}
	item := fmt.Sprintf("%s[%d]", field, i)
	var fe *FieldError
	if errors.As(err, &fe) {
		return &FieldError{Field: item + "." + fe.Field, Description: fe.Description}
	}
	return &ItemError{Item: item, Err: err}
}
