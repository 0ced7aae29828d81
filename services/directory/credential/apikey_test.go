package credential

import (
	"strings"
	"testing"
)

func TestNewAPIKey(t *testing.T) {
	k, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Secret) != 48 || !strings.HasPrefix(k.Secret, "stwk_") {
		t.Errorf("Secret = %q, want stwk_ and 43 characters", k.Secret)
	}
	if !LooksLikeAPIKey(k.Secret) {
		t.Errorf("LooksLikeAPIKey(%q) = false", k.Secret)
	}
	if k.Prefix != k.Secret[:12] {
		t.Errorf("Prefix = %q, want %q", k.Prefix, k.Secret[:12])
	}
	if k.Hash != HashAPIKey(k.Secret) {
		t.Errorf("Hash = %q, want HashAPIKey(Secret)", k.Hash)
	}
	k2, err := NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if k2.Secret == k.Secret || k2.Hash == k.Hash {
		t.Error("two new API keys are equal")
	}
}

func TestHashAPIKey(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2.
	if got, want := HashAPIKey("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("HashAPIKey(abc) = %s, want %s", got, want)
	}
}

func TestLooksLikeAPIKey(t *testing.T) {
	good := "stwk_" + strings.Repeat("A", 42) + "E" // last character: low two bits zero
	for _, tc := range []struct {
		name string
		s    string
		want bool
	}{
		{"good", good, true},
		{"url alphabet", "stwk_" + strings.Repeat("-_", 21) + "A", true},
		{"empty", "", false},
		{"marker only", "stwk_", false},
		{"other marker", "sk_l_" + good[5:], false},
		{"upper marker", "STWK_" + good[5:], false},
		{"too short", good[:47], false},
		{"too long", good + "A", false},
		{"std alphabet", "stwk_" + strings.Repeat("+/", 21) + "A", false},
		{"padded", "stwk_" + strings.Repeat("A", 42) + "=", false},
		{"trailing bits", "stwk_" + strings.Repeat("A", 42) + "B", false},
		{"line break", "stwk_" + strings.Repeat("A", 41) + "\nE", false},
		{"space", "stwk_" + strings.Repeat("A", 41) + " A", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LooksLikeAPIKey(tc.s); got != tc.want {
				t.Errorf("LooksLikeAPIKey(%q) = %v, want %v", tc.s, got, tc.want)
			}
		})
	}
}

func FuzzLooksLikeAPIKey(f *testing.F) {
	f.Add("stwk_" + strings.Repeat("A", 43))
	f.Add("stwk_")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if LooksLikeAPIKey(s) && (len(s) != 48 || !strings.HasPrefix(s, APIKeyMarker)) {
			t.Fatalf("LooksLikeAPIKey(%q) = true", s)
		}
	})
}
