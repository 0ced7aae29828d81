package main

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := newPrefixWriter(&mu, &out, "audit | ")
	for _, chunk := range []string{"one\ntw", "o\n", "", "three\nfour"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	w.Flush()
	want := "audit | one\naudit | two\naudit | three\naudit | four\n"
	if got := out.String(); got != want {
		t.Errorf("output %q, want %q", got, want)
	}

	// A partial line is not held beyond maxLine bytes.
	out.Reset()
	long := strings.Repeat("x", maxLine+10)
	_, _ = w.Write([]byte(long))
	if got := out.String(); got != "audit | "+long+"\n" {
		t.Errorf("a %d-byte partial line was held back (%d bytes out)", len(long), len(got))
	}
	w.Flush()
	if out.Len() != len("audit | ")+len(long)+1 {
		t.Error("Flush wrote the long line again")
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/work/data/service-credential": "/work/data/service-credential",
		"/my data/cred":                 "'/my data/cred'",
		"/it's/cred":                    `'/it'\''s/cred'`,
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-data-dir", "/d", "-access-addr", "127.0.0.1:1", "-audit-metrics-addr", ""})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.dataDir != "/d" || *cfg.addrs["access"] != "127.0.0.1:1" || *cfg.addrs["directory"] != "127.0.0.1:7001" ||
		*cfg.addrs["gateway"] != "127.0.0.1:8080" || *cfg.metricsAddrs["audit"] != "" || *cfg.metricsAddrs["licensing"] != "127.0.0.1:9003" {
		t.Errorf("config = %+v", cfg)
	}
	if _, err := parseFlags([]string{"extra"}); err == nil {
		t.Error("stray argument accepted")
	}
}

// TestParseServiceFlags: -service-flag passes flags to one service, in
// order; an unknown service or a value that is not a flag is refused.
func TestParseServiceFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-service-flag", "audit=-purge-interval=1s", "-service-flag", "audit=-min-retention=1ms", "-service-flag", "gateway=-log-level=debug"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.serviceFlags["audit"]; !slices.Equal(got, []string{"-purge-interval=1s", "-min-retention=1ms"}) {
		t.Errorf("audit's flags = %q", got)
	}
	if got := cfg.serviceFlags["gateway"]; !slices.Equal(got, []string{"-log-level=debug"}) {
		t.Errorf("gateway's flags = %q", got)
	}
	for _, bad := range []string{"nosuch=-x", "audit", "audit=", "audit=value"} {
		if _, err := parseFlags([]string{"-service-flag", bad}); err == nil {
			t.Errorf("-service-flag %q accepted", bad)
		}
	}
}

// TestPrefixWriterOnLine: onLine sees each whole line, without the prefix
// (the launcher spots steward-etcd's "serving clients" line with it).
func TestPrefixWriterOnLine(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	var seen []string
	w := newPrefixWriter(&mu, &out, "etcd1 | ")
	w.onLine = func(line []byte) { seen = append(seen, string(line)) }
	_, _ = w.Write([]byte("starting\nsteward-etcd: etcd1 serving clients"))
	_, _ = w.Write([]byte(" on 127.0.0.1:2379\n"))
	if want := []string{"starting\n", "steward-etcd: etcd1 serving clients on 127.0.0.1:2379\n"}; !slices.Equal(seen, want) {
		t.Errorf("lines seen %q, want %q", seen, want)
	}
	if got := out.String(); got != "etcd1 | starting\netcd1 | steward-etcd: etcd1 serving clients on 127.0.0.1:2379\n" {
		t.Errorf("output %q", got)
	}
}
