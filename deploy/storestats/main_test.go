package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"steward.dev/pkg/store"
	"steward.dev/pkg/store/bboltstore"
)

func TestRangeOf(t *testing.T) {
	for key, want := range map[string]string{
		"ra/organizations/o1/roleAssignments/a": "ra/",
		"x/principal/organizations/o1|x":        "x/principal/",
		"eventlog/e/\x00\x00\x01":               "eventlog/e/",
		"dir/p/organizations/o1/users/u":        "dir/p/",
		"ledger/signer":                         "ledger/",
		"plain":                                 "plain",
		"a/Upper/x":                             "a/",
		"a/toolongatag/x":                       "a/",
	} {
		if got := rangeOf([]byte(key)); got != want {
			t.Errorf("rangeOf(%q) = %q, want %q", key, got, want)
		}
	}
}

// TestRun: the ranges of a small store are counted, those kept apart
// (bboltstore.Options.Unordered) too, and the pages reported.
func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := bboltstore.Open(path, bboltstore.Options{NoSync: true, Unordered: []string{"x/scope/"}})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(context.Background(), func(tx store.Tx) error {
		for _, k := range []string{"ra/a", "ra/b", "x/scope/s|a", "x/scope/s|b", "x/scope/t|c"} {
			if err := tx.Put([]byte(k), []byte("value")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(path, &out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	rows := map[string][]string{}
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			rows[f[0]] = f[1:]
		}
	}
	for name, want := range map[string][]string{
		"x/scope/": {"3", "33", "15", "16", "72.7%"},
		"ra/":      {"2", "8", "10", "9", "27.3%"},
		"total":    {"5", "41", "25"},
	} {
		if got := rows[name]; !slices.Equal(got, want) {
			t.Errorf("row %s = %q, want %q\n%s", name, got, want, s)
		}
	}
	if !strings.Contains(s, "reached by the buckets") || !strings.Contains(s, "data bucket: depth") || !strings.Contains(s, "bucket of x/scope/: depth") {
		t.Errorf("no page figures:\n%s", s)
	}
}
