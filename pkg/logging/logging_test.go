package logging_test

import (
	"bytes"
	"strings"
	"testing"

	"steward.dev/pkg/logging"
)

func TestNew(t *testing.T) {
	tests := []struct {
		cfg     logging.Config
		want    string // substring of the output of Info("hello")
		wantErr bool
	}{
		{cfg: logging.Config{}, want: "msg=hello"},
		{cfg: logging.Config{Format: "json"}, want: `"msg":"hello"`},
		{cfg: logging.Config{Level: "warn"}, want: ""},
		{cfg: logging.Config{Level: "loud"}, wantErr: true},
		{cfg: logging.Config{Format: "xml"}, wantErr: true},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		l, err := tt.cfg.New(&buf)
		if tt.wantErr {
			if err == nil {
				t.Errorf("%+v: no error", tt.cfg)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%+v: %v", tt.cfg, err)
		}
		l.Info("hello")
		if got := buf.String(); (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%+v: logged %q, want %q", tt.cfg, got, tt.want)
		}
	}
}
