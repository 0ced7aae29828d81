package domain

import (
	"strings"
	"testing"
)

// Issue 9 item 8: text from an identity provider becomes a display name
// the API's display_text rule would accept.
func TestDisplayText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Ada Lovelace", "Ada Lovelace"},
		{"محمد", "محمد"},
		{"Eve\x00Admin", "EveAdmin"},
		{"\u202eevE nimdA\u202c", "evE nimdA"},
		{"Eve\u200e\u200f\u061c\u2066\u2069", "Eve"},
		{" \tEve\n", "Eve"},
		{"Eve\u0085\u009b\x7f", "Eve"},
		{"\u202e", ""},
		{strings.Repeat("é", 200), strings.Repeat("é", maxDisplayRunes)},
	} {
		if got := displayText(tc.in); got != tc.want {
			t.Errorf("displayText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
