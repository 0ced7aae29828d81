package authorizer

import (
	"encoding/binary"
	"hash/maphash"
	"strings"
	"unsafe"
)

// Assignment IDs (issue 13: a million assignments in 200 bytes each). A
// string per ID and a map[string]ref from IDs cost 16 bytes of header in the
// record, the string's own allocation, and 40-60 bytes per map entry, all of
// it pointers for the garbage collector to follow. Instead the IDs lie back
// to back in an arena, and the index by ID is an open-addressing table of
// 8-byte slots (a ref and a tag of its ID's hash) whose keys are read from
// the arena. The arena keeps each ID's parent — up to its last "/", the
// "organizations/{o}/roleAssignments/" that most IDs repeat (36 of the 48
// bytes of an ID on the `large` dataset) — once, and the rest per ID.

// chunkBits is the width of an ID's offset in its arena chunk.
const chunkBits = 16

// chunkSize is the size of an arena chunk; an ID longer than that gets a
// chunk of its own.
const chunkSize = 1 << chunkBits

// maxChunks is the number of chunks an arena position addresses: 4 GiB.
const maxChunks = 1 << (32 - chunkBits)

// idArena holds the assignments' IDs, each as the index of its parent in
// parents (uvarint), the length of the rest (uvarint) and the rest's bytes,
// in chunks that are written once and never move: the strings get returns
// point into them, so a Decision handed out stays valid whatever the model
// does next. Removed IDs stay until the model compacts the arena
// (wasteful), copying the live ones to new chunks; the old chunks are freed
// once no string points into them. Parents stay for good.
type idArena struct {
	chunks [][]byte
	// live and dead count the bytes of IDs in use and removed.
	live, dead int
	// parents are the IDs' parents, up to and including their last "/";
	// parents[0] is "", the parent of an ID without "/". parentIdx indexes
	// them.
	parents   []string
	parentIdx map[string]uint32
}

// splitID returns id's parent (up to and including its last "/") and the
// rest.
func splitID(id string) (parent, leaf string) {
	i := strings.LastIndexByte(id, '/') + 1
	return id[:i], id[i:]
}

// parentOf returns the index of parent in a.parents, if it is there.
func (a *idArena) parentOf(parent string) (uint32, bool) {
	if parent == "" {
		return 0, true
	}
	p, ok := a.parentIdx[parent]
	return p, ok
}

// add copies id into the arena and returns its position, or ErrFull.
func (a *idArena) add(id string) (uint32, error) {
	parent, leaf := splitID(id)
	p, ok := a.parentOf(parent)
	if !ok {
		if a.parentIdx == nil {
			a.parents, a.parentIdx = []string{""}, make(map[string]uint32)
		}
		p = uint32(len(a.parents))
		parent = strings.Clone(parent)
		a.parents = append(a.parents, parent)
		a.parentIdx[parent] = p
	}
	need := uvarintLen(int(p)) + uvarintLen(len(leaf)) + len(leaf)
	n := len(a.chunks)
	if n == 0 || cap(a.chunks[n-1])-len(a.chunks[n-1]) < need {
		if n == maxChunks {
			return 0, ErrFull
		}
		a.chunks = append(a.chunks, make([]byte, 0, max(chunkSize, need)))
		n++
	}
	c := a.chunks[n-1]
	pos := uint32(n-1)<<chunkBits | uint32(len(c))
	c = binary.AppendUvarint(c, uint64(p))
	c = binary.AppendUvarint(c, uint64(len(leaf)))
	a.chunks[n-1] = append(c, leaf...)
	a.live += need
	return pos, nil
}

// entry returns the parent index and the rest of the ID at pos, and the
// bytes it takes. The string shares the arena's memory, which is never
// written again.
func (a *idArena) entry(pos uint32) (parent uint32, leaf string, size int) {
	c := a.chunks[pos>>chunkBits][pos&(chunkSize-1):]
	p, w1 := binary.Uvarint(c)
	n, w2 := binary.Uvarint(c[w1:])
	if n == 0 {
		return uint32(p), "", w1 + w2
	}
	return uint32(p), unsafe.String(&c[w1+w2], int(n)), w1 + w2 + int(n)
}

// get returns the ID at pos as its parent and the rest, both the arena's
// own strings.
func (a *idArena) get(pos uint32) (parent, leaf string) {
	p, leaf, _ := a.entry(pos)
	if p == 0 {
		return "", leaf
	}
	return a.parents[p], leaf
}

// id returns the ID at pos in one string (allocated when it has a parent).
func (a *idArena) id(pos uint32) string {
	parent, leaf := a.get(pos)
	if parent == "" {
		return leaf
	}
	return parent + leaf
}

// free counts the ID at pos as removed.
func (a *idArena) free(pos uint32) {
	_, _, size := a.entry(pos)
	a.live -= size
	a.dead += size
}

// wasteful reports whether removed IDs take more room than live ones (and
// more than a chunk): compacting then costs at most one copy of the live
// IDs per as many bytes removed.
func (a *idArena) wasteful() bool { return a.dead > a.live && a.dead > chunkSize }

// uvarintLen returns the length of n's uvarint encoding.
func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// compactIDsLocked copies the live IDs to a new arena. The parents stay as
// they are (the ID table hashes their indexes; there is one per
// organization). m.mu must be held for writing.
func (m *Model) compactIDsLocked() {
	fresh := idArena{parents: m.ids.parents, parentIdx: m.ids.parentIdx}
	for i := 1; i < len(m.assignments); i++ {
		if as := &m.assignments[i]; as.subject != 0 {
			// Cannot fail: the live IDs fitted before.
			as.id, _ = fresh.add(m.ids.id(as.id))
		}
	}
	m.ids = fresh
}

// idSlot is a slot of the ID table: an assignment (0 for none) and the high
// half of its ID's hash, so that a probe reads the assignment and its ID
// only when they are likely to match.
type idSlot struct {
	a   ref
	tag uint32
}

// idSlotsFor returns the size of an ID table for n assignments: a power of
// two at most 3/4 full.
func idSlotsFor(n int) int {
	size := 16
	for size*3 < n*4 {
		size <<= 1
	}
	return size
}

// idHash returns the hash of an assignment ID: of the rest of the ID after
// its parent, mixed with the parent's index.
func (m *Model) idHash(parent uint32, leaf string) uint64 {
	return maphash.String(m.idSeed, leaf) ^ uint64(parent)*0x9e3779b97f4a7c15
}

// storedIDHash returns the hash of the ID at pos.
func (m *Model) storedIDHash(pos uint32) uint64 {
	p, leaf, _ := m.ids.entry(pos)
	return m.idHash(p, leaf)
}

// lookupIDLocked returns the assignment with the given ID. m.mu must be
// held.
func (m *Model) lookupIDLocked(id string) (ref, bool) {
	parent, leaf := splitID(id)
	p, ok := m.ids.parentOf(parent)
	if !ok {
		return 0, false
	}
	h := m.idHash(p, leaf)
	mask, tag := uint64(len(m.idSlots)-1), uint32(h>>32)
	for s := h & mask; ; s = (s + 1) & mask {
		sl := m.idSlots[s]
		if sl.a == 0 {
			return 0, false
		}
		if sl.tag == tag {
			if q, l, _ := m.ids.entry(m.assignments[sl.a].id); q == p && l == leaf {
				return sl.a, true
			}
		}
	}
}

// insertIDLocked indexes assignment i, whose ID is not in the table yet, by
// its ID, growing the table past 3/4 full. m.mu must be held for writing.
func (m *Model) insertIDLocked(i ref) {
	m.assigned++
	if m.assigned*4 > len(m.idSlots)*3 {
		m.resizeIDsLocked(len(m.idSlots) * 2)
	}
	h := m.storedIDHash(m.assignments[i].id)
	m.placeIDLocked(idSlot{a: i, tag: uint32(h >> 32)}, h&uint64(len(m.idSlots)-1))
}

// resizeIDsLocked moves the ID table to one of size slots, a power of two.
// m.mu must be held for writing.
func (m *Model) resizeIDsLocked(size int) {
	old := m.idSlots
	m.idSlots = make([]idSlot, size)
	mask := uint64(size - 1)
	for _, sl := range old {
		if sl.a != 0 {
			// The tag is the hash's high half; the home is in its low.
			m.placeIDLocked(sl, m.storedIDHash(m.assignments[sl.a].id)&mask)
		}
	}
}

// placeIDLocked puts sl in the first free slot from home. m.mu must be held
// for writing.
func (m *Model) placeIDLocked(sl idSlot, home uint64) {
	mask := uint64(len(m.idSlots) - 1)
	s := home
	for m.idSlots[s].a != 0 {
		s = (s + 1) & mask
	}
	m.idSlots[s] = sl
}

// deleteIDLocked removes assignment i from the ID table, moving back the
// entries after it that would otherwise no longer be found (linear
// probing's deletion, without tombstones). m.mu must be held for writing.
func (m *Model) deleteIDLocked(i ref) {
	mask := uint64(len(m.idSlots) - 1)
	hole := m.storedIDHash(m.assignments[i].id) & mask
	for m.idSlots[hole].a != i {
		hole = (hole + 1) & mask
	}
	m.assigned--
	for s := (hole + 1) & mask; m.idSlots[s].a != 0; s = (s + 1) & mask {
		sl := m.idSlots[s]
		home := m.storedIDHash(m.assignments[sl.a].id) & mask
		// sl may move into the hole unless its home lies cyclically in
		// (hole, s]: then the hole is not on its probe path.
		if (s-home)&mask >= (s-hole)&mask {
			m.idSlots[hole] = sl
			hole = s
		}
	}
	m.idSlots[hole] = idSlot{}
}
