package domain

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestGeneratedIDs (issue 13): a generated ID is a valid resource ID (it
// begins with a letter), 22 characters long; IDs sort by the millisecond
// they were made in, and many made in one millisecond are distinct.
func TestGeneratedIDs(t *testing.T) {
	valid := regexp.MustCompile(`^a[0-9a-z]{21}$`)
	t0 := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	prev := ""
	for i, at := range []time.Time{t0, t0.Add(time.Millisecond), t0.Add(time.Second), t0.Add(24 * time.Hour), t0.AddDate(100, 0, 0)} {
		id := idAt(at)
		if !valid.MatchString(id) {
			t.Fatalf("idAt(%v) = %q: not a generated ID", at, id)
		}
		if i > 0 && strings.Compare(prev, id) >= 0 {
			t.Errorf("idAt(%v) = %q does not sort after %q", at, id, prev)
		}
		prev = id
	}
	seen := map[string]bool{}
	for range 100_000 {
		id := idAt(t0)
		if seen[id] {
			t.Fatalf("%q made twice in one millisecond", id)
		}
		seen[id] = true
	}
	if id := newRandomID(); !valid.MatchString(id) {
		t.Errorf("newRandomID() = %q", id)
	}
}

// TestAppendBase36: zero-padded to the width, high digits first, cut to the
// low digits when longer; the 62 random bits of an ID fit 12 digits.
func TestAppendBase36(t *testing.T) {
	for _, tc := range []struct {
		v     uint64
		width int
		want  string
	}{
		{0, 3, "000"},
		{35, 2, "0z"},
		{36, 2, "10"},
		{36*36 + 1, 2, "01"},
		{1<<62 - 1, 12, strconv.FormatUint(1<<62-1, 36)},
	} {
		if got := string(appendBase36(nil, tc.v, tc.width)); got != tc.want {
			t.Errorf("appendBase36(%d, %d) = %q, want %q", tc.v, tc.width, got, tc.want)
		}
	}
}
