// Package kubernetes_test checks the manifests of deploy/kubernetes.
//
// TestKubeconform validates them with kubeconform against the committed
// schemas (strict, no network) and proves the check can fail: each manifest
// of testdata/ must be refused, for the reason its "# want:" line names. It
// runs when STEWARD_KUBECONFORM names the kubeconform binary (`make
// test-deploy` sets it) and is skipped otherwise.
//
// TestManifests checks what a schema cannot: that the manifests fit the
// programs they run. Every flag on a command line and every STEWARD_*
// variable of the ConfigMap is one the program takes, with a value it
// accepts (internal/programs builds each program's real flag set); ports,
// probes, Services and NetworkPolicies agree with the programs' default
// ports; every container runs non-root, read-only, without capabilities.
package kubernetes_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"steward.dev/deploy/internal/programs"
)

const (
	namespace = "steward"
	configMap = "steward-config"
	image     = "steward:latest"
	binDir    = "/usr/local/bin/"
)

// schemaDir returns the directory of committed schemas and the Kubernetes
// version it is named after (schemas/v1.31.14-standalone-strict: 1.31.14).
func schemaDir(t *testing.T) (dir, version string) {
	t.Helper()
	dirs, err := filepath.Glob("schemas/v*-standalone-strict")
	if err != nil || len(dirs) != 1 {
		t.Fatalf("want one schemas/v<version>-standalone-strict directory, found %v (%v)", dirs, err)
	}
	version = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(dirs[0]), "v"), "-standalone-strict")
	return dirs[0], version
}

// kubeconform runs kubeconform as `make test-deploy` does on files and
// returns its output and whether it succeeded.
func kubeconform(t *testing.T, bin, version string, files ...string) (string, bool) {
	t.Helper()
	abs, err := filepath.Abs("schemas")
	if err != nil {
		t.Fatal(err)
	}
	location := abs + "/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
	args := append([]string{"-strict", "-summary", "-kubernetes-version", version, "-schema-location", location}, files...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %s: %v", bin, err)
	}
	return string(out), err == nil
}

func TestKubeconform(t *testing.T) {
	bin := os.Getenv("STEWARD_KUBECONFORM")
	if bin == "" {
		t.Skip("STEWARD_KUBECONFORM is not set: `make test-deploy` runs this test")
	}
	_, version := schemaDir(t)
	manifests := manifestFiles(t)
	if out, ok := kubeconform(t, bin, version, manifests...); !ok {
		t.Fatalf("the manifests are invalid:\n%s", out)
	}

	broken, err := filepath.Glob("testdata/invalid-*.yaml")
	if err != nil || len(broken) == 0 {
		t.Fatalf("no testdata/invalid-*.yaml (%v): the check would pass vacuously", err)
	}
	for _, f := range broken {
		want := wantLine(t, f)
		out, ok := kubeconform(t, bin, version, f)
		if ok {
			t.Errorf("%s: kubeconform accepted it; want it refused with %q:\n%s", f, want, out)
		} else if !strings.Contains(out, want) {
			t.Errorf("%s: refused, but not with %q:\n%s", f, want, out)
		}
	}
}

// wantLine returns the text after "# want: " in file's leading comments.
func wantLine(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() && strings.HasPrefix(sc.Text(), "#") {
		if want, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			return want
		}
	}
	t.Fatalf("%s: no \"# want: <error>\" line in its leading comments", file)
	return ""
}

func manifestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes (%v)", err)
	}
	return files
}

// The parts of the objects TestManifests reads; kubeconform checks the rest.
type (
	meta struct {
		Name      string            `yaml:"name"`
		Namespace string            `yaml:"namespace"`
		Labels    map[string]string `yaml:"labels"`
	}
	object struct {
		APIVersion string    `yaml:"apiVersion"`
		Kind       string    `yaml:"kind"`
		Metadata   meta      `yaml:"metadata"`
		node       yaml.Node // the whole object, to decode as its kind
		file       string
	}
	deployment struct {
		Spec struct {
			Replicas int `yaml:"replicas"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata meta    `yaml:"metadata"`
				Spec     podSpec `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	podSpec struct {
		AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
		SecurityContext              struct {
			RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
			SeccompProfile struct {
				Type string `yaml:"type"`
			} `yaml:"seccompProfile"`
		} `yaml:"securityContext"`
		InitContainers []container `yaml:"initContainers"`
		Containers     []container `yaml:"containers"`
		Volumes        []volume    `yaml:"volumes"`
	}
	volume struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	}
	container struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		EnvFrom []struct {
			ConfigMapRef *struct {
				Name string `yaml:"name"`
			} `yaml:"configMapRef"`
		} `yaml:"envFrom"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		StartupProbe   *probe `yaml:"startupProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
				Add  []string `yaml:"add"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		GRPC *struct {
			Port int `yaml:"port"`
		} `yaml:"grpc"`
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
		TCPSocket *struct {
			Port string `yaml:"port"`
		} `yaml:"tcpSocket"`
	}
	service struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	networkPolicy struct {
		Spec struct {
			Ingress []policyRule `yaml:"ingress"`
			Egress  []policyRule `yaml:"egress"`
		} `yaml:"spec"`
	}
	policyRule struct {
		Ports []struct {
			Protocol string `yaml:"protocol"`
			Port     int    `yaml:"port"`
		} `yaml:"ports"`
	}
)

// loadObjects reads every object of the manifests.
func loadObjects(t *testing.T) []*object {
	t.Helper()
	var objs []*object
	for _, f := range manifestFiles(t) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			o := &object{file: f}
			if err := dec.Decode(&o.node); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if err := o.node.Decode(o); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// find returns the object of kind called name, failing the test without.
func find(t *testing.T, objs []*object, kind, name string, into any) {
	t.Helper()
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Name == name {
			if err := o.node.Decode(into); err != nil {
				t.Fatalf("%s %s (%s): %v", kind, name, o.file, err)
			}
			return
		}
	}
	t.Fatalf("no %s %s in deploy/kubernetes", kind, name)
}

func TestManifests(t *testing.T) {
	objs := loadObjects(t)
	seen := map[string]bool{}
	for _, o := range objs {
		id := o.Kind + " " + o.Metadata.Name
		if seen[id] {
			t.Errorf("%s: %s defined twice", o.file, id)
		}
		seen[id] = true
		if o.Kind == "Namespace" {
			if o.Metadata.Name != namespace {
				t.Errorf("%s: Namespace %s, want %s", o.file, o.Metadata.Name, namespace)
			}
		} else if o.Metadata.Namespace != namespace {
			t.Errorf("%s: %s is in namespace %q, want %q", o.file, id, o.Metadata.Namespace, namespace)
		}
		if o.Metadata.Labels["app.kubernetes.io/part-of"] != "steward" {
			t.Errorf("%s: %s has no label app.kubernetes.io/part-of: steward", o.file, id)
		}
	}
	var env map[string]string
	t.Run("ConfigMap", func(t *testing.T) { env = checkConfigMap(t, objs) })
	for _, p := range programs.All {
		t.Run(p.Name, func(t *testing.T) { checkProgram(t, objs, p, env) })
	}
	t.Run("NetworkPolicy", func(t *testing.T) { checkNetworkPolicies(t, objs, env) })
}

// perService are the flags whose values differ from service to service:
// never in the shared ConfigMap.
var perService = []string{"addr", "metrics-addr", "debug-addr", "data-dir", "service-credential-file", "trusted-services-file",
	"tls-cert", "tls-key", "peer-tls-cert", "peer-tls-key"}

// checkConfigMap checks that every variable of the shared ConfigMap sets a
// flag of at least one program, with a value every program that has the
// flag accepts, and returns the variables.
func checkConfigMap(t *testing.T, objs []*object) map[string]string {
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	find(t, objs, "ConfigMap", configMap, &cm)
	for env, value := range cm.Data {
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
			t.Errorf("%s sets no flag of any Steward program", env)
		case slices.Contains(perService, flagName):
			t.Errorf("%s sets -%s, which differs per service: give it on each command line", env, flagName)
		}
	}
	// Each -<backend>-addr names the backend's Service and port.
	for _, p := range programs.All {
		if !p.Backend {
			continue
		}
		env := "STEWARD_" + strings.ToUpper(p.Name) + "_ADDR"
		want := fmt.Sprintf("%s.%s.svc:%d", p.Name, namespace, mustPort(t, p.DefaultAddr))
		if got := cm.Data[env]; got != want {
			t.Errorf("%s = %q, want %q (the %s Service)", env, got, want, p.Name)
		}
	}
	if cm.Data["STEWARD_ETCD_ENDPOINTS"] == "" {
		t.Error("STEWARD_ETCD_ENDPOINTS is not set: the backends keep their data in etcd")
	}
	return cm.Data
}

func mustPort(t *testing.T, addr string) int {
	t.Helper()
	port, err := programs.Port(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return port
}

// expandRef is Kubernetes' $(VAR) reference in command and args.
var expandRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// checkProgram checks the Deployment and Service of program p.
func checkProgram(t *testing.T, objs []*object, p programs.Program, env map[string]string) {
	var d deployment
	find(t, objs, "Deployment", p.Name, &d)
	wantLabels := map[string]string{"app.kubernetes.io/name": p.Name, "app.kubernetes.io/part-of": "steward"}
	if d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", d.Spec.Replicas)
	}
	for k, v := range wantLabels {
		if d.Spec.Selector.MatchLabels[k] != v || d.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %v and pod labels %v must both hold %s: %s", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels, k, v)
		}
	}
	component := map[bool]string{true: "backend", false: "gateway"}[p.Backend]
	if got := d.Spec.Template.Metadata.Labels["app.kubernetes.io/component"]; got != component {
		t.Errorf("pod label app.kubernetes.io/component %q, want %q (the NetworkPolicies select it)", got, component)
	}

	pod := d.Spec.Template.Spec
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken is not false")
	}
	if pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("seccompProfile %q, want RuntimeDefault", pod.SecurityContext.SeccompProfile.Type)
	}
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		checkHardened(t, c, pod.SecurityContext.RunAsNonRoot)
	}
	if len(pod.Containers) != 1 || pod.Containers[0].Name != p.Name {
		t.Fatalf("want one container named %s", p.Name)
	}
	c := pod.Containers[0]
	if c.Image != image {
		t.Errorf("image %q, want %q", c.Image, image)
	}
	if want := []string{binDir + p.Binary()}; !slices.Equal(c.Command, want) {
		t.Errorf("command %q, want %q (the binary `make build` writes as bin/%s)", c.Command, want, p.Binary())
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != configMap {
		t.Errorf("envFrom must be the ConfigMap %s alone", configMap)
	}

	// The command line, its $(VAR) references expanded as Kubernetes does
	// from the container's environment, parsed as the program parses it.
	var args []string
	for _, a := range c.Args {
		var missing []string
		args = append(args, expandRef.ReplaceAllStringFunc(a, func(ref string) string {
			v, ok := env[expandRef.FindStringSubmatch(ref)[1]]
			if !ok {
				missing = append(missing, ref)
			}
			return v
		}))
		if len(missing) > 0 {
			t.Errorf("argument %q refers to %v, which the ConfigMap does not set", a, missing)
		}
	}
	fs, err := p.Parse(args)
	if err != nil {
		t.Fatalf("command line %q: %v", c.Args, err)
	}
	value := func(name string) string { return fs.Lookup(name).Value.String() }

	// Listen addresses: all interfaces, on the program's default ports (the
	// README's ports table), matching the container's named ports.
	portName := map[bool]string{true: "grpc", false: "http"}[p.Backend]
	port := mustPort(t, p.DefaultAddr)
	wantPorts := map[string]int{portName: port}
	if got := value("addr"); got != fmt.Sprintf("0.0.0.0:%d", port) {
		t.Errorf("-addr=%s, want 0.0.0.0:%d", got, port)
	}
	if p.Backend {
		metrics := mustPort(t, p.DefaultMetricsAddr)
		wantPorts["metrics"] = metrics
		if got := value("metrics-addr"); got != fmt.Sprintf("0.0.0.0:%d", metrics) {
			t.Errorf("-metrics-addr=%s, want 0.0.0.0:%d", got, metrics)
		}
	}
	gotPorts := map[string]int{}
	for _, cp := range c.Ports {
		gotPorts[cp.Name] = cp.ContainerPort
	}
	if fmt.Sprint(gotPorts) != fmt.Sprint(wantPorts) {
		t.Errorf("container ports %v, want %v", gotPorts, wantPorts)
	}

	if p.Backend {
		// The store flags on the command line, not only in the
		// environment: a binary without them fails instead of silently
		// keeping its data in the pod.
		for _, want := range []string{"-store=etcd", "-etcd-endpoints=$(STEWARD_ETCD_ENDPOINTS)"} {
			if !slices.Contains(c.Args, want) {
				t.Errorf("args lack %s", want)
			}
		}
		// The gRPC port speaks TLS alone, which Kubernetes' gRPC probes
		// cannot: startup and readiness ask GET /healthz on the metrics
		// port (the gRPC health in plain HTTP), liveness that the gRPC
		// port accepts connections.
		for name, pr := range map[string]*probe{"startupProbe": c.StartupProbe, "readinessProbe": c.ReadinessProbe} {
			if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != "/healthz" || pr.HTTPGet.Port != "metrics" {
				t.Errorf("%s is not GET /healthz on port metrics", name)
			}
		}
		if pr := c.LivenessProbe; pr == nil || pr.TCPSocket == nil || pr.TCPSocket.Port != portName {
			t.Errorf("livenessProbe is not a tcpSocket probe of port %s", portName)
		}
		// TLS both ways: served, and to every other service, with the
		// service's certificate as its client certificate.
		for _, f := range []string{"tls-cert", "tls-key", "tls-client-ca", "peer-tls-ca", "peer-tls-cert", "peer-tls-key"} {
			if value(f) == "" {
				t.Errorf("-%s is not set: the services talk TLS between pods", f)
			}
		}
		if value("peer-tls-cert") != value("tls-cert") || value("peer-tls-key") != value("tls-key") {
			t.Error("-peer-tls-cert and -peer-tls-key are not the service's own -tls-cert and -tls-key (CN steward-<service>)")
		}
	} else {
		if pr := c.ReadinessProbe; pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != "/readyz" || pr.HTTPGet.Port != portName {
			t.Errorf("readinessProbe is not GET /readyz on port %s", portName)
		}
		if c.LivenessProbe == nil {
			t.Error("no livenessProbe")
		}
	}

	// Requests and limits of CPU and memory.
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		for _, r := range []string{"cpu", "memory"} {
			if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
				t.Errorf("container %s: no %s request or limit", c.Name, r)
			}
		}
	}

	// Files: the credentials on a read-only mount written from the
	// service's own Secret, the data directory on a writable one.
	mounts := map[string]bool{} // mount path: read-only
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.ReadOnly
	}
	under := func(path string) (readOnly, ok bool) {
		for dir, ro := range mounts {
			if path == dir || strings.HasPrefix(path, dir+"/") {
				return ro, true
			}
		}
		return false, false
	}
	files := []string{"service-credential-file", "trusted-services-file", "data-dir",
		"tls-cert", "tls-key", "tls-client-ca", "peer-tls-ca", "peer-tls-cert", "peer-tls-key"}
	if !p.Backend {
		// The gateway keeps no data and leaves the trusted services alone;
		// it verifies the backends' certificates.
		if v := value("trusted-services-file"); v != "" {
			t.Errorf("-trusted-services-file=%s: the gateway must leave it alone (empty)", v)
		}
		files = []string{"service-credential-file", "tls-ca"}
	}
	for _, f := range files {
		v := value(f)
		ro, ok := under(v)
		switch {
		case !ok:
			t.Errorf("-%s=%s is on no volume mount (the root file system is read-only)", f, v)
		case f == "data-dir" && ro:
			t.Errorf("-data-dir=%s is on a read-only mount", v)
		case f != "data-dir" && !ro:
			t.Errorf("-%s=%s: mount its volume read-only", f, v)
		}
	}
	for _, wantSecret := range []string{"steward-" + p.Name + "-credentials", "steward-" + p.Name + "-tls"} {
		if !slices.ContainsFunc(pod.Volumes, func(v volume) bool { return v.Secret != nil && v.Secret.SecretName == wantSecret }) {
			t.Errorf("no volume of the Secret %s", wantSecret)
		}
	}

	// The Service: the Deployment's pods, the named ports.
	var svc service
	find(t, objs, "Service", p.Name, &svc)
	if fmt.Sprint(svc.Spec.Selector) != fmt.Sprint(d.Spec.Selector.MatchLabels) {
		t.Errorf("Service selector %v, want the Deployment's %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels)
	}
	gotSvc := map[string]int{}
	for _, sp := range svc.Spec.Ports {
		gotSvc[sp.Name] = sp.Port
		if sp.TargetPort != sp.Name {
			t.Errorf("Service port %s: targetPort %q, want the container port's name", sp.Name, sp.TargetPort)
		}
	}
	if fmt.Sprint(gotSvc) != fmt.Sprint(wantPorts) {
		t.Errorf("Service ports %v, want %v", gotSvc, wantPorts)
	}
}

// checkHardened checks a container's securityContext: non-root (its own
// or the pod's), read-only root file system, no privilege escalation, every
// capability dropped and none added.
func checkHardened(t *testing.T, c container, podNonRoot *bool) {
	t.Helper()
	sc := c.SecurityContext
	isTrue := func(b *bool) bool { return b != nil && *b }
	if !isTrue(sc.RunAsNonRoot) && !(sc.RunAsNonRoot == nil && isTrue(podNonRoot)) {
		t.Errorf("container %s: runAsNonRoot is not true", c.Name)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Errorf("container %s: readOnlyRootFilesystem is not true", c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container %s: allowPrivilegeEscalation is not false", c.Name)
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("container %s: capabilities drop %v add %v, want drop [ALL] alone", c.Name, sc.Capabilities.Drop, sc.Capabilities.Add)
	}
}

// checkNetworkPolicies checks the ports the policies open against the
// programs' and etcd's.
func checkNetworkPolicies(t *testing.T, objs []*object, env map[string]string) {
	var backendPorts []int
	var gatewayPort int
	for _, p := range programs.All {
		if p.Backend {
			backendPorts = append(backendPorts, mustPort(t, p.DefaultAddr))
		} else {
			gatewayPort = mustPort(t, p.DefaultAddr)
		}
	}
	var etcdPorts []int
	for ep := range strings.SplitSeq(env["STEWARD_ETCD_ENDPOINTS"], ",") {
		etcdPorts = append(etcdPorts, mustPort(t, ep))
	}
	slices.Sort(etcdPorts)
	etcdPorts = slices.Compact(etcdPorts)

	ports := func(rules []policyRule) (tcp []int) {
		for _, r := range rules {
			for _, p := range r.Ports {
				if p.Protocol == "TCP" {
					tcp = append(tcp, p.Port)
				}
			}
		}
		slices.Sort(tcp)
		return slices.Compact(tcp)
	}
	var np networkPolicy
	find(t, objs, "NetworkPolicy", "steward-backends-ingress", &np)
	if got := ports(np.Spec.Ingress); !slices.Equal(got, backendPorts) {
		t.Errorf("steward-backends-ingress opens %v, want the backends' gRPC ports %v", got, backendPorts)
	}
	np = networkPolicy{}
	find(t, objs, "NetworkPolicy", "steward-gateway-ingress", &np)
	if got := ports(np.Spec.Ingress); !slices.Equal(got, []int{gatewayPort}) {
		t.Errorf("steward-gateway-ingress opens %v, want the gateway's port %d alone", got, gatewayPort)
	}
	np = networkPolicy{}
	find(t, objs, "NetworkPolicy", "steward-egress", &np)
	if got := ports(np.Spec.Egress); !slices.Equal(got, append([]int{53}, backendPorts...)) {
		t.Errorf("steward-egress opens %v, want DNS and the backends' gRPC ports %v", got, backendPorts)
	}
	np = networkPolicy{}
	find(t, objs, "NetworkPolicy", "steward-backends-egress-etcd", &np)
	if got := ports(np.Spec.Egress); !slices.Equal(got, etcdPorts) {
		t.Errorf("steward-backends-egress-etcd opens %v, want etcd's ports %v (STEWARD_ETCD_ENDPOINTS)", got, etcdPorts)
	}
}
