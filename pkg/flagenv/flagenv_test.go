package flagenv_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"steward.dev/pkg/flagenv"
)

func TestEnvName(t *testing.T) {
	for name, want := range map[string]string{
		"addr":                    "STEWARD_ADDR",
		"data-dir":                "STEWARD_DATA_DIR",
		"tls-client-ca":           "STEWARD_TLS_CLIENT_CA",
		"service-credential-file": "STEWARD_SERVICE_CREDENTIAL_FILE",
		"log.level":               "STEWARD_LOG_LEVEL",
	} {
		if got := flagenv.EnvName("STEWARD", name); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	env := map[string]string{
		"STEWARD_ADDR":         "127.0.0.1:1",
		"STEWARD_DATA_DIR":     "/from/env",
		"STEWARD_METRICS_ADDR": "",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:7001", "")
	dataDir := fs.String("data-dir", "data", "")
	metrics := fs.String("metrics-addr", "127.0.0.1:9001", "")
	timeout := fs.Duration("shutdown-timeout", 10*time.Second, "")
	if err := fs.Parse([]string{"--addr", "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	if err := flagenv.Apply(fs, "STEWARD", lookup); err != nil {
		t.Fatal(err)
	}
	if *addr != "127.0.0.1:2" {
		t.Errorf("addr = %q, want the flag's value (flag beats env)", *addr)
	}
	if *dataDir != "/from/env" {
		t.Errorf("data-dir = %q, want the env value (env beats default)", *dataDir)
	}
	if *metrics != "" {
		t.Errorf("metrics-addr = %q, want empty (set-but-empty env applies)", *metrics)
	}
	if *timeout != 10*time.Second {
		t.Errorf("shutdown-timeout = %v, want the default", *timeout)
	}
}

func TestBadEnvValue(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.Duration("shutdown-timeout", time.Second, "")
	lookup := func(k string) (string, bool) { return "soon", k == "STEWARD_SHUTDOWN_TIMEOUT" }
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	err := flagenv.Apply(fs, "STEWARD", lookup)
	if err == nil || !strings.Contains(err.Error(), "STEWARD_SHUTDOWN_TIMEOUT") {
		t.Fatalf("err = %v, want one naming STEWARD_SHUTDOWN_TIMEOUT", err)
	}
}

func TestParseUsageNamesEnv(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("data-dir", "data", "directory of the service's data")
	t.Setenv("STEWARD_DATA_DIR", "/x")
	if err := flagenv.Parse(fs, "STEWARD", nil); err != nil {
		t.Fatal(err)
	}
	f := fs.Lookup("data-dir")
	if !strings.Contains(f.Usage, "(env STEWARD_DATA_DIR)") {
		t.Errorf("usage %q does not name the variable", f.Usage)
	}
	if f.Value.String() != "/x" {
		t.Errorf("data-dir = %q, want /x", f.Value)
	}
}
