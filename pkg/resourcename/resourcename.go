// Package resourcename parses and formats AIP-122 resource names such as
// "organizations/o1/tenants/t1/services/s1/folders/f1": alternating collection
// identifiers and resource IDs. Scopes of role assignments are these same names,
// so "ancestor" is simply a shorter prefix; Parent and Ancestors work on strings
// without allocating, because the permission check walks them on every call.
package resourcename

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLength bounds a whole name; longer input is refused before parsing.
const MaxLength = 1024

// MaxIDLength bounds one resource ID.
const MaxIDLength = 63

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("resourcename: invalid name")

// Segment is one collection/ID pair of a name.
type Segment struct {
	// Collection is the plural collection identifier, e.g. "tenants".
	Collection string
	// ID is the resource ID within the collection, e.g. "t1".
	ID string
}

// Name is a parsed resource name. The zero Name is the root (no segments).
type Name struct {
	segs []Segment
}

// Parse parses s, which must be a sequence of collection/ID pairs. Collection
// identifiers are lowerCamelCase ASCII letters; IDs are 1–63 characters of
// lowercase letters, digits and hyphens, starting with a letter or digit and
// not ending with a hyphen (AIP-122, RFC-1034 style).
func Parse(s string) (Name, error) {
	if s == "" {
		return Name{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(s) > MaxLength {
		return Name{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLength)
	}
	parts := strings.Split(s, "/")
	if len(parts)%2 != 0 {
		return Name{}, fmt.Errorf("%w: %q does not alternate collection and id", ErrInvalid, s)
	}
	segs := make([]Segment, 0, len(parts)/2)
	for i := 0; i < len(parts); i += 2 {
		if err := ValidateCollection(parts[i]); err != nil {
			return Name{}, err
		}
		if err := ValidateID(parts[i+1]); err != nil {
			return Name{}, err
		}
		segs = append(segs, Segment{Collection: parts[i], ID: parts[i+1]})
	}
	return Name{segs: segs}, nil
}

// MustParse is Parse for names known to be valid (constants in code and tests);
// it panics on error.
func MustParse(s string) Name {
	n, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return n
}

// ValidateCollection reports why c is not a valid collection identifier.
func ValidateCollection(c string) error {
	if c == "" {
		return fmt.Errorf("%w: empty collection", ErrInvalid)
	}
	if len(c) > MaxIDLength {
		return fmt.Errorf("%w: collection %q longer than %d", ErrInvalid, c, MaxIDLength)
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		switch {
		case ch >= 'a' && ch <= 'z':
		case ch >= 'A' && ch <= 'Z' && i > 0:
		default:
			return fmt.Errorf("%w: collection %q must be lowerCamelCase letters", ErrInvalid, c)
		}
	}
	return nil
}

// ValidateID reports why id is not a valid resource ID.
func ValidateID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty id", ErrInvalid)
	}
	if len(id) > MaxIDLength {
		return fmt.Errorf("%w: id %q longer than %d", ErrInvalid, id, MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		ch := id[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9':
		case ch == '-' && i > 0 && i < len(id)-1:
		default:
			return fmt.Errorf("%w: id %q must be lowercase letters, digits and inner hyphens", ErrInvalid, id)
		}
	}
	return nil
}

// String formats the name; the root formats as "".
func (n Name) String() string {
	var b strings.Builder
	for i, s := range n.segs {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s.Collection)
		b.WriteByte('/')
		b.WriteString(s.ID)
	}
	return b.String()
}

// IsRoot reports whether n has no segments.
func (n Name) IsRoot() bool { return len(n.segs) == 0 }

// Len returns the number of collection/ID pairs.
func (n Name) Len() int { return len(n.segs) }

// Segments returns a copy of the name's segments, outermost first.
func (n Name) Segments() []Segment { return append([]Segment(nil), n.segs...) }

// Collection returns the collection of the last segment ("" for the root).
func (n Name) Collection() string {
	if n.IsRoot() {
		return ""
	}
	return n.segs[len(n.segs)-1].Collection
}

// ID returns the ID of the last segment ("" for the root).
func (n Name) ID() string {
	if n.IsRoot() {
		return ""
	}
	return n.segs[len(n.segs)-1].ID
}

// Parent returns the name without its last segment; the parent of a
// one-segment name is the root.
func (n Name) Parent() Name {
	if n.IsRoot() {
		return n
	}
	return Name{segs: n.segs[:len(n.segs)-1]}
}

// Child returns n extended by one segment. It does not validate.
func (n Name) Child(collection, id string) Name {
	segs := make([]Segment, len(n.segs), len(n.segs)+1)
	copy(segs, n.segs)
	return Name{segs: append(segs, Segment{Collection: collection, ID: id})}
}

// Root returns the name's first segment (the organization, for Steward's names).
func (n Name) Root() Name {
	if n.IsRoot() {
		return n
	}
	return Name{segs: n.segs[:1]}
}

// HasPrefix reports whether p is n itself or one of its ancestors.
func (n Name) HasPrefix(p Name) bool {
	if len(p.segs) > len(n.segs) {
		return false
	}
	for i, s := range p.segs {
		if n.segs[i] != s {
			return false
		}
	}
	return true
}

// Parent returns the parent of the (already valid) name s as a substring of s,
// without allocating, and false when s has a single segment or is malformed.
func Parent(s string) (string, bool) {
	i := strings.LastIndexByte(s, '/')
	if i <= 0 {
		return "", false
	}
	j := strings.LastIndexByte(s[:i], '/')
	if j <= 0 {
		return "", false
	}
	return s[:j], true
}

// IsAncestorOrSelf reports whether the (already valid) name a equals d or is an
// ancestor of d, comparing whole segments ("tenants/t1" is not an ancestor of
// "tenants/t10").
func IsAncestorOrSelf(a, d string) bool {
	if !strings.HasPrefix(d, a) {
		return false
	}
	return len(d) == len(a) || (len(a) > 0 && d[len(a)] == '/')
}

// Organization returns the first collection/ID pair of the (already valid) name
// s, e.g. "organizations/o1", as a substring of s.
func Organization(s string) string {
	i := strings.IndexByte(s, '/')
	if i < 0 {
		return s
	}
	if j := strings.IndexByte(s[i+1:], '/'); j >= 0 {
		return s[:i+1+j]
	}
	return s
}

// OrganizationOf returns the "organizations/{id}" prefix of s, or "" when s
// does not start with one. Unlike Organization it takes any string, not only
// valid names: rule targets such as "organizations/o1/accountSystem" and
// names of other collections ("roles/owner" has no organization) are common
// input. The result is a substring of s.
func OrganizationOf(s string) string {
	rest, ok := strings.CutPrefix(s, "organizations/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	if id == "" {
		return ""
	}
	return s[:len("organizations/")+len(id)]
}
