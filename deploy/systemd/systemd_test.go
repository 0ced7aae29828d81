// Package systemd_test checks the systemd units of deploy/systemd.
//
// TestUnits parses each unit (sections, keys, ExecStart with its
// continuation lines) and checks what the units promise: the ordering, the
// hardening, the credentials, a binary that `make build` writes, and a
// command line whose every flag is a real flag of that program with a value
// it accepts (internal/programs builds each program's flag set), after
// systemd's specifiers and ${VAR}s from steward.env are expanded.
// TestEnvFile checks steward.env's variables the same way.
//
// TestSystemdAnalyzeVerify runs `systemd-analyze verify` on the units where
// systemd-analyze is installed and works without a running systemd (it
// needs none), and is skipped elsewhere: the checks above stand alone.
package systemd_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"steward.dev/deploy/internal/programs"
)

const (
	binDir  = "/usr/local/bin/"
	envFile = "steward.env"
	target  = "steward.target"
)

// unit is a parsed unit file: each section's keys, each with its values in
// order (a key may repeat).
type unit map[string]map[string][]string

// get returns the last value of key in section ("" without one).
func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// words returns the space-separated words of every value of key in section.
func (u unit) words(section, key string) []string {
	var out []string
	for _, v := range u[section][key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// parseUnit parses a unit file as systemd does for what these units use:
// comments (# and ;), [Section] headers, Key=Value lines, and lines ending
// in a backslash continued on the next.
func parseUnit(path string) (unit, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		for strings.HasSuffix(line, `\`) && sc.Scan() {
			n++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(sc.Text())
		}
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			if _, dup := u[section]; dup {
				return nil, fmt.Errorf("%s:%d: section [%s] twice", path, n, section)
			}
			u[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				return nil, fmt.Errorf("%s:%d: want Key=Value inside a section: %q", path, n, line)
			}
			key = strings.TrimSpace(key)
			u[section][key] = append(u[section][key], strings.TrimSpace(value))
		}
	}
	return u, sc.Err()
}

// readEnv reads an environment file: VAR=value lines and comments.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: want VAR=value: %q", path, n+1, line)
		}
		env[k] = v
	}
	return env
}

// perService are the flags whose values differ from service to service:
// never in the shared steward.env.
var perService = []string{"addr", "metrics-addr", "debug-addr", "data-dir", "service-credential-file", "trusted-services-file",
	"tls-cert", "tls-key", "peer-tls-cert", "peer-tls-key"}

func TestEnvFile(t *testing.T) {
	for env, value := range readEnv(t, envFile) {
		flagName := ""
		for _, p := range programs.All {
			name, err := p.CheckEnv(env, value)
			if err != nil {
				t.Error(err)
			}
			if name != "" {
				flagName = name
			}
		}
		switch {
		case flagName == "":
			t.Errorf("%s: %s sets no flag of any Steward program", envFile, env)
		case slices.Contains(perService, flagName):
			t.Errorf("%s: %s sets -%s, which differs per service", envFile, env, flagName)
		}
	}
}

// varRef is a ${VAR} of ExecStart, replaced by the variable's value.
var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand expands the specifiers these units use, as systemd does for a
// system unit called name, and ${VAR}s from env.
func expand(s, name string, env map[string]string) (string, error) {
	var err error
	s = varRef.ReplaceAllStringFunc(s, func(ref string) string {
		v, ok := env[varRef.FindStringSubmatch(ref)[1]]
		if !ok {
			err = errors.Join(err, fmt.Errorf("%s is not set in %s", ref, envFile))
		}
		return v
	})
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i++; i == len(s) {
			return "", fmt.Errorf("%q ends in %%", s)
		}
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case 'S':
			b.WriteString("/var/lib")
		case 'd':
			b.WriteString("/run/credentials/" + name + ".service")
		case 'N':
			b.WriteString(name)
		default:
			err = errors.Join(err, fmt.Errorf("specifier %%%c: add it to the test's expand", s[i]))
		}
	}
	return b.String(), err
}

func TestUnits(t *testing.T) {
	files, err := filepath.Glob("*.service")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range programs.All {
		want = append(want, "steward-"+p.Name+".service")
	}
	slices.Sort(files)
	if sorted := slices.Sorted(slices.Values(want)); !slices.Equal(files, sorted) {
		t.Errorf("unit files %v, want one per service: %v", files, sorted)
	}
	env := readEnv(t, envFile)
	for _, p := range programs.All {
		t.Run(p.Name, func(t *testing.T) { checkUnit(t, p, env) })
	}

	tu, err := parseUnit(target)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(slices.Values(tu.words("Unit", "Wants"))); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("%s wants %v, want every service: %v", target, got, want)
	}
	if got := tu.get("Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("%s: WantedBy=%s, want multi-user.target", target, got)
	}
}

// hardening are settings every unit must have, with their values.
var hardening = map[string]string{
	"NoNewPrivileges":       "yes",
	"ProtectSystem":         "strict",
	"ProtectHome":           "yes",
	"PrivateTmp":            "yes",
	"PrivateDevices":        "yes",
	"CapabilityBoundingSet": "",
	"RestrictSUIDSGID":      "yes",
	"SystemCallFilter":      "@system-service",
	"UMask":                 "0077",
}

func checkUnit(t *testing.T, p programs.Program, env map[string]string) {
	name := "steward-" + p.Name
	file := name + ".service"
	u, err := parseUnit(file)
	if err != nil {
		t.Fatal(err)
	}
	for section := range u {
		if section != "Unit" && section != "Service" && section != "Install" {
			t.Errorf("unexpected section [%s]", section)
		}
	}
	if u.get("Unit", "Description") == "" {
		t.Error("no Description")
	}
	for _, key := range []string{"After", "Wants"} {
		if !slices.Contains(u.words("Unit", key), "network-online.target") {
			t.Errorf("%s= lacks network-online.target", key)
		}
	}
	if u.get("Unit", "PartOf") != target {
		t.Errorf("PartOf=%s, want %s", u.get("Unit", "PartOf"), target)
	}
	if u.get("Install", "WantedBy") != target {
		t.Errorf("WantedBy=%s, want %s", u.get("Install", "WantedBy"), target)
	}

	if u.get("Service", "Restart") != "on-failure" {
		t.Errorf("Restart=%s, want on-failure", u.get("Service", "Restart"))
	}
	if got, want := u["Service"]["EnvironmentFile"], []string{"/etc/steward/" + envFile, "-/etc/steward/%N.env"}; !slices.Equal(got, want) {
		t.Errorf("EnvironmentFile= %q, want %q", got, want)
	}
	if u.get("Service", "DynamicUser") != "yes" && u.get("Service", "User") != "steward" {
		t.Error("neither DynamicUser=yes nor User=steward")
	}
	for key, want := range hardening {
		if vs, ok := u["Service"][key]; !ok || vs[len(vs)-1] != want {
			t.Errorf("%s=%q, want %q", key, u.get("Service", key), want)
		}
	}

	// Credentials: systemd copies them into %d, named by their IDs.
	creds := map[string]string{}
	for _, v := range u["Service"]["LoadCredential"] {
		id, path, _ := strings.Cut(v, ":")
		creds[id] = path
	}
	wantCreds := map[string]string{"credential": "/etc/steward/credentials/" + p.Name}
	if p.Backend {
		wantCreds["services.sha256"] = "/etc/steward/credentials/services.sha256"
	}
	if fmt.Sprint(creds) != fmt.Sprint(wantCreds) {
		t.Errorf("LoadCredential= %v, want %v", creds, wantCreds)
	}

	// ExecStart: the binary `make build` writes, and a command line the
	// program parses.
	cmd := u.words("Service", "ExecStart")
	if len(u["Service"]["ExecStart"]) != 1 || len(cmd) == 0 {
		t.Fatalf("want one ExecStart=, got %q", u["Service"]["ExecStart"])
	}
	if cmd[0] != binDir+p.Binary() {
		t.Errorf("ExecStart runs %s, want %s (`make build` writes bin/%s)", cmd[0], binDir+p.Binary(), p.Binary())
	}
	var args []string
	for _, a := range cmd[1:] {
		x, err := expand(a, name, env)
		if err != nil {
			t.Errorf("ExecStart argument %q: %v", a, err)
		}
		args = append(args, x)
	}
	fs, err := p.Parse(args)
	if err != nil {
		t.Fatalf("ExecStart %q: %v", cmd[1:], err)
	}
	value := func(flag string) string { return fs.Lookup(flag).Value.String() }
	credDir := "/run/credentials/" + file + "/"
	if got := value("service-credential-file"); got != credDir+"credential" {
		t.Errorf("-service-credential-file=%s, want %%d/credential (LoadCredential)", got)
	}
	if !p.Backend {
		if got := value("trusted-services-file"); got != "" {
			t.Errorf("-trusted-services-file=%s: the gateway must leave it alone (empty)", got)
		}
		return
	}
	if got := value("trusted-services-file"); got != credDir+"services.sha256" {
		t.Errorf("-trusted-services-file=%s, want %%d/services.sha256 (LoadCredential)", got)
	}
	state := u.get("Service", "StateDirectory")
	if state != name {
		t.Errorf("StateDirectory=%s, want %s", state, name)
	}
	if got := value("data-dir"); got != "/var/lib/"+state {
		t.Errorf("-data-dir=%s, want %%S/%s (the StateDirectory)", got, state)
	}
	// The store flags on the command line, where a binary without them
	// fails instead of ignoring the variables.
	for _, want := range []string{"-store=etcd", "-etcd-endpoints=${STEWARD_ETCD_ENDPOINTS}"} {
		if !slices.Contains(cmd, want) {
			t.Errorf("ExecStart lacks %s", want)
		}
	}
}

// TestSystemdAnalyzeVerify runs `systemd-analyze verify` on copies of the
// units whose ExecStart binaries are stand-ins in a temporary directory
// (verify checks that the binary exists). Any output, a warning about an
// unknown key included, fails the test.
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed: TestUnits' checks stand alone")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	verify := func(files ...string) (string, error) {
		out, err := exec.Command(sa, append([]string{"verify", "--man=no"}, files...)...).CombinedOutput()
		return string(out), err
	}

	// Does verify work here, without a running systemd? A unit known to be
	// good tells.
	probe := filepath.Join(dir, "steward-probe.service")
	if err := os.WriteFile(probe, []byte("[Unit]\nDescription=probe\n[Service]\nExecStart=/bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(probe); err != nil || out != "" {
		t.Skipf("systemd-analyze verify does not work here (%v): %s", err, out)
	}

	files, err := filepath.Glob("*.service")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, target)
	var copies []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data = bytes.ReplaceAll(data, []byte(binDir), []byte(bin+"/"))
		c := filepath.Join(dir, f)
		if err := os.WriteFile(c, data, 0o644); err != nil {
			t.Fatal(err)
		}
		copies = append(copies, c)
	}
	for _, p := range programs.All {
		if err := os.WriteFile(filepath.Join(bin, p.Binary()), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, err := verify(copies...)
	if err != nil || out != "" {
		t.Errorf("systemd-analyze verify %v: %v\n%s", files, err, out)
	}
}
