package records_test

import (
	"errors"
	"slices"
	"testing"

	"steward.dev/pkg/pagetoken"
	"steward.dev/pkg/records"
)

// FuzzSlicePage pages through a list from an arbitrary page token and page
// size: a token the list did not issue is a *FieldError on page_token
// (never a panic); otherwise following next_page_token yields the rest of
// the list in key order, each item once, and ends.
func FuzzSlicePage(f *testing.F) {
	const fp = 42
	keys := []string{"a", "a/b", "b", "b\x00", "c", "organizations/o/users/u1", "organizations/o/users/u2", "z"}
	for _, k := range keys {
		f.Add(pagetoken.Encode([]byte(k), fp), int32(2))
	}
	f.Add("", int32(0))
	f.Add("", int32(-7))
	f.Add(pagetoken.Encode([]byte("b"), fp+1), int32(1))
	f.Add(pagetoken.Encode([]byte("bb"), fp), int32(1<<30))
	f.Add("!!!", int32(3))
	f.Fuzz(func(t *testing.T, token string, size int32) {
		items := make([]records.Keyed[string], len(keys))
		for i, k := range keys {
			items[len(keys)-1-i] = records.Keyed[string]{Key: k, Item: k} // unsorted on purpose
		}
		page, next, err := records.SlicePage(items, token, size, fp)
		if err != nil {
			var fe *records.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("SlicePage(%q): %v, want a *FieldError", token, err)
			}
			return
		}
		var seen []string
		for pages := 0; ; pages++ {
			if pages > len(keys)+1 {
				t.Fatalf("paging from %q did not end", token)
			}
			if len(page) == 0 && next != "" {
				t.Fatalf("an empty page with a next token")
			}
			seen = append(seen, page...)
			if next == "" {
				break
			}
			if page, next, err = records.SlicePage(items, next, size, fp); err != nil {
				t.Fatalf("SlicePage with its own next token: %v", err)
			}
		}
		if !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != len(seen) {
			t.Fatalf("pages %q are not in key order, each once", seen)
		}
		if len(seen) > 0 {
			i := slices.Index(keys, seen[0])
			if !slices.Equal(seen, keys[i:]) {
				t.Fatalf("paging from %q yielded %q, want a suffix of %q", token, seen, keys)
			}
		}
	})
}
