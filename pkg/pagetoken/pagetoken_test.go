package pagetoken

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	fp := Fingerprint("organizations/o1", `state = "ACTIVE"`)
	key := []byte("users/o1/\x00\xffu42")
	tok := Encode(key, fp)
	got, err := Decode(tok, fp)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Decode(Encode(k)) = %q, %v", got, err)
	}
	if k, err := Decode("", fp); k != nil || err != nil {
		t.Fatalf("empty token = %q, %v; want first page", k, err)
	}
}

func TestRefusals(t *testing.T) {
	fp := Fingerprint("organizations/o1", "")
	valid := Encode([]byte("k"), fp)
	tests := map[string]struct {
		token string
		fp    uint64
	}{
		"other parent":   {valid, Fingerprint("organizations/o2", "")},
		"other filter":   {valid, Fingerprint("organizations/o1", "x")},
		"not base64":     {"***", fp},
		"too short":      {"AQ", fp},
		"empty key":      {Encode(nil, fp), fp},
		"wrong version":  {"Ag" + valid[2:], fp},
		"oversized":      {Encode(make([]byte, maxKeyLength+1), fp), fp},
		"padding chars":  {valid + "==", fp},
		"truncated tail": {valid[:len(valid)-1] + "!", fp},
	}
	for name, tc := range tests {
		if _, err := Decode(tc.token, tc.fp); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Decode error = %v, want ErrInvalid", name, err)
		}
	}
	// Fingerprints separate their parameters: ("ab","") differs from ("a","b").
	if Fingerprint("ab", "") == Fingerprint("a", "b") {
		t.Error("fingerprint ignores parameter boundaries")
	}
}

// FuzzDecode checks that no input panics and that accepted tokens re-encode
// to themselves.
func FuzzDecode(f *testing.F) {
	fp := Fingerprint("p")
	f.Add(Encode([]byte("users/u1"), fp))
	f.Add("")
	f.Add("AQAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		key, err := Decode(tok, fp)
		if err != nil || tok == "" {
			return
		}
		if Encode(key, fp) != tok {
			t.Fatalf("accepted token %q does not re-encode to itself", tok)
		}
	})
}
