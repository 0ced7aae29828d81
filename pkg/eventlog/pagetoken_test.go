package eventlog

import "testing"

func TestPageTokenRoundTrip(t *testing.T) {
	for _, seq := range []uint64{0, 1, 1 << 40} {
		got, err := decodePageToken("directory", encodePageToken("directory", seq))
		if err != nil || got != seq {
			t.Errorf("round trip of %d = %d, %v", seq, got, err)
		}
	}
	if _, err := decodePageToken("access", encodePageToken("directory", 7)); err == nil {
		t.Error("a token of another source was accepted")
	}
}

func FuzzDecodePageToken(f *testing.F) {
	f.Add(encodePageToken("directory", 42))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, tok string) {
		seq, err := decodePageToken("directory", tok)
		if err != nil {
			return
		}
		// Whatever decodes must be what encoding that sequence gives back.
		if again, err := decodePageToken("directory", encodePageToken("directory", seq)); err != nil || again != seq {
			t.Fatalf("token %q decodes to %d but re-encodes to %d, %v", tok, seq, again, err)
		}
	})
}
