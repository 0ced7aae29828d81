package domain

// The history's base snapshot in access's store: historyMetaKey holds its
// historyBase (JSON), historyChunkPrefix its data cut into chunks of at
// most historyChunkSize bytes. The data is historyFormat (one byte), then a
// compress/flate stream of records, each a tag byte and its fields:
// strings as uvarint length and bytes, small numbers as one byte. Custom
// roles come first (tag 'R'), then the model's facts in authorizer's
// Facts order (scopes 'S', principals 'P', memberships 'M', assignments
// 'A', API keys 'K'), then 'E'.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"steward.dev/pkg/eventlog"
	"steward.dev/pkg/store"
	"steward.dev/services/access/authorizer"
	"steward.dev/services/access/catalogue"
)

// historyFormat is the version of the base's data.
const historyFormat = 1

// historyChunkSize bounds a stored chunk of the base's data.
const historyChunkSize = 1 << 20

// historyBase describes the stored base snapshot.
type historyBase struct {
	// Generation counts the bases written; rebuilt models are cached per
	// generation.
	Generation uint64 `json:"generation"`
	// Access and Directory are the positions of the logs the base
	// reflects: every event up to them, none after.
	Access    eventlog.Position `json:"access"`
	Directory eventlog.Position `json:"directory"`
	// Time is the earliest moment the history answers for; zero when it
	// goes back to the first events.
	Time time.Time `json:"time"`
	// Chunks and Bytes are the size of the data; Sizes presizes a model.
	Chunks int              `json:"chunks"`
	Bytes  int              `json:"bytes"`
	Sizes  authorizer.Sizes `json:"sizes"`
}

// readBaseMeta returns the stored base's description, if there is a base.
func (s *Service) readBaseMeta(ctx context.Context) (historyBase, bool, error) {
	var b historyBase
	var ok bool
	err := s.view(ctx, func(tx store.ReadTx) (err error) {
		b, ok, err = getBaseMeta(tx)
		return err
	})
	return b, ok, err
}

// getBaseMeta reads the base's description in tx.
func getBaseMeta(tx store.ReadTx) (historyBase, bool, error) {
	var b historyBase
	v, err := tx.Get([]byte(historyMetaKey))
	if errors.Is(err, store.ErrNotFound) {
		return b, false, nil
	}
	if err != nil {
		return b, false, err
	}
	return b, true, json.Unmarshal(v, &b)
}

// loadBase reads the base's data and restores it. It fails if another base
// replaced want meanwhile.
func (s *Service) loadBase(ctx context.Context, want historyBase) (*historyState, error) {
	var chunks [][]byte
	err := s.view(ctx, func(tx store.ReadTx) error {
		b, ok, err := getBaseMeta(tx)
		if err != nil {
			return err
		}
		if !ok || b.Generation != want.Generation {
			return errors.New("domain: history: the base changed while it was read; ask again")
		}
		return tx.Scan([]byte(historyChunkPrefix), nil, func(_, v []byte) (bool, error) {
			chunks = append(chunks, bytes.Clone(v))
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	readers := make([]io.Reader, len(chunks))
	for i, c := range chunks {
		readers[i] = bytes.NewReader(c)
	}
	return decodeBase(io.MultiReader(readers...), want.Sizes)
}

// writeBase replaces the stored base with st at b's positions and time,
// and, when clearReset, drops the request for a new base (historyResetKey)
// in the same transaction. It returns the base as stored.
func (s *Service) writeBase(ctx context.Context, b historyBase, st *historyState, clearReset bool) (historyBase, error) {
	chunks, sizes, err := encodeBase(st)
	if err != nil {
		return b, err
	}
	return s.storeBase(ctx, b, chunks, sizes, clearReset)
}

// storeBase is writeBase of st's encoded chunks and sizes.
func (s *Service) storeBase(ctx context.Context, b historyBase, chunks [][]byte, sizes authorizer.Sizes, clearReset bool) (historyBase, error) {
	b.Chunks, b.Bytes, b.Sizes = len(chunks), 0, sizes
	for _, c := range chunks {
		b.Bytes += len(c)
	}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		old, _, err := getBaseMeta(tx)
		if err != nil {
			return err
		}
		b.Generation = old.Generation + 1
		if err := deleteKeysUnder(tx, historyChunkPrefix); err != nil {
			return err
		}
		for i, c := range chunks {
			if err := tx.Put(historyChunkKey(i), c); err != nil {
				return err
			}
		}
		if clearReset {
			if err := tx.Delete([]byte(historyResetKey)); err != nil {
				return err
			}
		}
		return putJSON(tx, historyMetaKey, b)
	})
	return b, err
}

// historyChunkKey is the key of the base's chunk i.
func historyChunkKey(i int) []byte {
	return binary.BigEndian.AppendUint32([]byte(historyChunkPrefix), uint32(i))
}

// deleteKeysUnder deletes every key with prefix.
func deleteKeysUnder(tx store.Tx, prefix string) error {
	keys, err := keysUnder(tx, prefix)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Delete([]byte(k)); err != nil {
			return err
		}
	}
	return nil
}

// chunker is an io.Writer cutting what it is written into chunks of at
// most max bytes.
type chunker struct {
	chunks [][]byte
	max    int
}

// Write implements io.Writer.
func (c *chunker) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(c.chunks) == 0 || len(c.chunks[len(c.chunks)-1]) == c.max {
			c.chunks = append(c.chunks, nil)
		}
		last := &c.chunks[len(c.chunks)-1]
		k := min(len(p), c.max-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// encodeBase returns st's data in chunks, and the sizes of its model.
func encodeBase(st *historyState) ([][]byte, authorizer.Sizes, error) {
	c := &chunker{max: historyChunkSize}
	c.Write([]byte{historyFormat})
	fw, err := flate.NewWriter(c, flate.BestSpeed)
	if err != nil {
		return nil, authorizer.Sizes{}, err
	}
	e := &baseEncoder{w: bufio.NewWriter(fw)}
	for _, r := range st.roles {
		e.role(r)
	}
	var sizes authorizer.Sizes
	err = st.model.Facts(authorizer.FactVisitor{
		Scope: func(sc authorizer.Scope) error {
			sizes.Scopes++
			e.record('S', sc.Name, sc.ServiceType, sc.DisplayName)
			return nil
		},
		Principal: func(p authorizer.Principal) error {
			sizes.Principals++
			e.w.WriteByte('P')
			e.w.WriteByte(byte(p.Kind))
			e.w.WriteByte(byte(p.Status))
			e.w.WriteByte(boolByte(p.Everyone))
			e.strings(p.ID, p.Organization, p.DisplayName, p.Email)
			return nil
		},
		Membership: func(ms authorizer.Membership) error {
			e.record('M', ms.Group, ms.Member)
			return nil
		},
		Assignment: func(a authorizer.Assignment) error {
			sizes.Assignments++
			e.w.WriteByte('A')
			e.w.WriteByte(boolByte(a.BuiltIn))
			e.strings(a.ID, a.Principal, a.Role, a.Scope)
			return nil
		},
		APIKey: func(k authorizer.APIKey) error {
			e.record('K', k.ID, k.Principal, k.Creator)
			return nil
		},
	})
	if err != nil {
		return nil, sizes, err
	}
	e.w.WriteByte('E')
	if err := e.w.Flush(); err != nil {
		return nil, sizes, err
	}
	return c.chunks, sizes, fw.Close()
}

// baseEncoder writes records; the bufio.Writer keeps the first error,
// which Flush returns.
type baseEncoder struct {
	w *bufio.Writer
}

// record writes a record of tag with string fields.
func (e *baseEncoder) record(tag byte, fields ...string) {
	e.w.WriteByte(tag)
	e.strings(fields...)
}

// strings writes each of fields, length first.
func (e *baseEncoder) strings(fields ...string) {
	var n [binary.MaxVarintLen64]byte
	for _, f := range fields {
		e.w.Write(binary.AppendUvarint(n[:0], uint64(len(f))))
		e.w.WriteString(f)
	}
}

// role writes a custom role.
func (e *baseEncoder) role(r catalogue.Role) {
	e.record('R', r.ID, r.Name, r.Description, r.ServiceType)
	e.w.WriteByte(byte(r.Level))
	var n [binary.MaxVarintLen64]byte
	e.w.Write(binary.AppendUvarint(n[:0], uint64(len(r.Permissions))))
	e.strings(r.Permissions...)
}

// boolByte is b as one byte.
func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// decodeBase restores a base's data into a new model presized with sizes:
// the scopes, principals, memberships and assignments through the bulk
// Loader, the roles and API keys after it.
func decodeBase(r io.Reader, sizes authorizer.Sizes) (*historyState, error) {
	var version [1]byte
	if _, err := io.ReadFull(r, version[:]); err != nil {
		return nil, fmt.Errorf("domain: history: base: %w", err)
	}
	if version[0] != historyFormat {
		return nil, fmt.Errorf("domain: history: base of unknown format %d", version[0])
	}
	fr := flate.NewReader(r)
	defer fr.Close()
	d := &baseDecoder{r: bufio.NewReader(fr)}
	st := &historyState{model: authorizer.New(sizes), roles: map[string]catalogue.Role{}}
	var keys []authorizer.APIKey
	err := st.model.Load(func(l *authorizer.Loader) error {
		for {
			done, err := d.next(l, st.roles, &keys)
			if done || err != nil {
				return err
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("domain: history: base: %w", err)
	}
	for _, role := range st.roles {
		if err := st.model.UpsertRole(role); err != nil {
			return nil, fmt.Errorf("domain: history: base: role %s: %w", role.ID, err)
		}
	}
	for _, k := range keys {
		if err := st.model.UpsertAPIKey(k); err != nil {
			return nil, fmt.Errorf("domain: history: base: %w", err)
		}
	}
	return st, nil
}

// baseDecoder reads records; its buffers hold the fields the Loader takes
// as bytes.
type baseDecoder struct {
	r   *bufio.Reader
	buf [4][]byte
	err error
}

// next reads one record into l (facts), roles or keys, and reports whether
// it was the last.
func (d *baseDecoder) next(l *authorizer.Loader, roles map[string]catalogue.Role, keys *[]authorizer.APIKey) (bool, error) {
	tag := d.byte()
	switch tag {
	case 'R':
		r := catalogue.Role{ID: d.str(), Name: d.str(), Description: d.str(), ServiceType: d.str(), Assignable: true}
		r.Level = catalogue.Level(d.byte())
		r.Permissions = make([]string, min(d.uvarint(), 1<<16))
		for i := range r.Permissions {
			r.Permissions[i] = d.str()
		}
		roles[r.ID] = r
	case 'S':
		sc := authorizer.Scope{Name: d.str(), ServiceType: d.str(), DisplayName: d.str()}
		if d.err == nil {
			_ = l.UpsertScope(sc)
		}
	case 'P':
		p := authorizer.Principal{Kind: authorizer.PrincipalKind(d.byte()), Status: authorizer.Status(d.byte()), Everyone: d.byte() == 1}
		p.ID, p.Organization, p.DisplayName, p.Email = d.str(), d.str(), d.str(), d.str()
		if d.err == nil {
			_ = l.UpsertPrincipal(p)
		}
	case 'M':
		group, member := d.bytes(0), d.bytes(1)
		if d.err == nil {
			_ = l.UpsertMembership(group, member)
		}
	case 'A':
		builtIn := d.byte() == 1
		id, principal, role, scope := d.bytes(0), d.bytes(1), d.bytes(2), d.bytes(3)
		if d.err == nil {
			_ = l.UpsertAssignment(id, principal, role, scope, builtIn)
		}
	case 'K':
		*keys = append(*keys, authorizer.APIKey{ID: d.str(), Principal: d.str(), Creator: d.str()})
	case 'E':
		return true, d.err
	default:
		if d.err == nil {
			d.err = fmt.Errorf("unknown record %q", tag)
		}
	}
	return false, d.err
}

// byte reads one byte.
func (d *baseDecoder) byte() byte {
	if d.err != nil {
		return 0
	}
	b, err := d.r.ReadByte()
	d.err = err
	return b
}

// uvarint reads a uvarint.
func (d *baseDecoder) uvarint() int {
	if d.err != nil {
		return 0
	}
	n, err := binary.ReadUvarint(d.r)
	d.err = err
	return int(n)
}

// bytes reads a string into buffer i and returns it (valid until the next
// read into i).
func (d *baseDecoder) bytes(i int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if cap(d.buf[i]) < n {
		d.buf[i] = make([]byte, n)
	}
	d.buf[i] = d.buf[i][:n]
	_, d.err = io.ReadFull(d.r, d.buf[i])
	return d.buf[i]
}

// str reads a string.
func (d *baseDecoder) str() string { return string(d.bytes(0)) }
