// Package kubernetes holds the plugin server's Kubernetes manifests and the
// gateway's Helm values (plugin-server.yaml, tyk-oss-values.yaml). Nothing
// here starts a cluster: the tests decode the files strictly with the
// Kubernetes API types and check that they agree with the plugin server's
// settings and defaults and with each other.
package kubernetes

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/tyk-lab/grpc-plugin-lab/coprocess"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/config"
	"github.com/tyk-lab/grpc-plugin-lab/plugin-server/internal/server/grpcserver"
)

const (
	manifestsFile = "plugin-server.yaml"
	valuesFile    = "tyk-oss-values.yaml"
	// configSource declares the plugin server's PLUGIN_* variables.
	configSource = "../internal/server/config/config.go"
	dockerfile   = "../Dockerfile"
	// clusterDomain is the cluster DNS domain tyk-oss-values.yaml assumes.
	clusterDomain = "cluster.local"

	envPrefix       = "PLUGIN_"
	gwServer        = "TYK_GW_COPROCESSOPTIONS_COPROCESSGRPCSERVER"
	gwRoundRobin    = "TYK_GW_COPROCESSOPTIONS_GRPCROUNDROBINLOADBALANCING"
	gwRecvMax       = "TYK_GW_COPROCESSOPTIONS_GRPCRECVMAXSIZE"
	gwSendMax       = "TYK_GW_COPROCESSOPTIONS_GRPCSENDMAXSIZE"
	gwEnableCoproc  = "TYK_GW_COPROCESSOPTIONS_ENABLECOPROCESS"
	grpcPortName    = "grpc"
	metricsPortName = "metrics"
)

// --- strict decoding -------------------------------------------------------

// decodeStrict decodes a YAML document into into as strictly as the API
// server's strict field validation: duplicate keys, unknown fields and keys
// in the wrong case are errors.
func decodeStrict(doc []byte, into any) error {
	// YAMLToJSONStrict: like YAMLToJSON, but a duplicate key is an error.
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return fmt.Errorf("yaml to json: %w", err)
	}
	return decodeStrictJSON(j, into)
}

func decodeStrictJSON(j []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the object")
	}
	// encoding/json matches keys case-insensitively, so it takes
	// TerminationGracePeriodSeconds for terminationGracePeriodSeconds; the
	// API server's decoder (sigs.k8s.io/json) does not. Decode once more
	// with it, into a fresh value, for its strict errors.
	fresh := reflect.New(reflect.TypeOf(into).Elem()).Interface()
	strictErrs, err := kjson.UnmarshalStrict(j, fresh)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// decodeObject decodes one manifest document into the API type its
// apiVersion and kind name. It returns nil, nil for an empty document.
func decodeObject(doc []byte) (any, error) {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("yaml to json: %w", err)
	}
	if t := bytes.TrimSpace(j); len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(j, &tm); err != nil {
		return nil, fmt.Errorf("apiVersion and kind: %w", err)
	}
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "v1 Service":
		obj = &corev1.Service{}
	case "policy/v1 PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	default:
		return nil, fmt.Errorf("apiVersion %q kind %q: not a kind this test knows (apps/v1 Deployment, v1 Service, policy/v1 PodDisruptionBudget); add it to decodeObject and check it",
			tm.APIVersion, tm.Kind)
	}
	if err := decodeStrictJSON(j, obj); err != nil {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	return obj, nil
}

// splitDocuments splits a multi-document YAML file on its --- lines.
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

// manifests are plugin-server.yaml's objects, one of each kind.
type manifests struct {
	deploy *appsv1.Deployment
	svc    *corev1.Service
	pdb    *policyv1.PodDisruptionBudget
	// raw is each kind's document as written.
	raw map[string][]byte
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	data, err := os.ReadFile(manifestsFile)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := splitDocuments(data)
	if err != nil {
		t.Fatalf("%s: %v", manifestsFile, err)
	}
	m := manifests{raw: map[string][]byte{}}
	for i, doc := range docs {
		obj, err := decodeObject(doc)
		if err != nil {
			t.Fatalf("%s, document %d: %v", manifestsFile, i+1, err)
		}
		var kind string
		switch o := obj.(type) {
		case nil:
			continue
		case *appsv1.Deployment:
			kind, m.deploy = "Deployment", o
		case *corev1.Service:
			kind, m.svc = "Service", o
		case *policyv1.PodDisruptionBudget:
			kind, m.pdb = "PodDisruptionBudget", o
		}
		if _, dup := m.raw[kind]; dup {
			t.Fatalf("%s, document %d: a second %s; this test expects one of each kind", manifestsFile, i+1, kind)
		}
		m.raw[kind] = doc
	}
	if m.deploy == nil || m.svc == nil || m.pdb == nil {
		t.Fatalf("%s: want a Deployment, a Service and a PodDisruptionBudget; have %v", manifestsFile, slices.Sorted(maps.Keys(m.raw)))
	}
	return m
}

// container is the Deployment's one container, the plugin server.
func (m manifests) container(t *testing.T) *corev1.Container {
	t.Helper()
	cs := m.deploy.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("Deployment %s: %d containers; this test expects one, the plugin server", m.deploy.Name, len(cs))
	}
	return &cs[0]
}

func containerPort(t *testing.T, c *corev1.Container, name string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s: no port named %q", c.Name, name)
	return 0
}

// env is the container's env by name; a name set twice fails the test.
func env(t *testing.T, c *corev1.Container) map[string]corev1.EnvVar {
	t.Helper()
	if len(c.EnvFrom) > 0 {
		t.Fatalf("container %s: envFrom would set variables this test cannot see; list them under env", c.Name)
	}
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := out[e.Name]; dup {
			t.Errorf("container %s: env %s set twice (the last one wins, silently)", c.Name, e.Name)
		}
		out[e.Name] = e
	}
	return out
}

// literal is the value of a variable the container sets as a literal.
func literal(t *testing.T, envs map[string]corev1.EnvVar, name string) string {
	t.Helper()
	e, ok := envs[name]
	if !ok {
		t.Fatalf("env %s: not set; the manifest must write it out", name)
	}
	if e.ValueFrom != nil {
		t.Fatalf("env %s: set with valueFrom; want a literal value", name)
	}
	return e.Value
}

func duration(t *testing.T, envs map[string]corev1.EnvVar, name string) time.Duration {
	t.Helper()
	v := literal(t, envs, name)
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("env %s=%q: %v", name, v, err)
	}
	return d
}

func addrPort(t *testing.T, what, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s %q: %v", what, addr, err)
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		t.Fatalf("%s %q: port %q: %v", what, addr, p, err)
	}
	return int32(n)
}

func servicePort(t *testing.T, svc *corev1.Service, name string) corev1.ServicePort {
	t.Helper()
	for _, p := range svc.Spec.Ports {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("Service %s: no port named %q", svc.Name, name)
	return corev1.ServicePort{}
}

// --- the tests -------------------------------------------------------------

// TestManifestsDecodeStrictly: every document of plugin-server.yaml is a
// known kind and decodes with no unknown, misspelt or duplicate field.
func TestManifestsDecodeStrictly(t *testing.T) {
	m := loadManifests(t)
	t.Logf("decoded Deployment %s, Service %s, PodDisruptionBudget %s", m.deploy.Name, m.svc.Name, m.pdb.Name)
}

// TestStrictDecoderRefusesMistakes proves the decoding strict: the
// Deployment decodes as written, and not with a misspelt field, a field in
// the wrong case or a key given twice; a kind the test does not know is
// refused too.
func TestStrictDecoderRefusesMistakes(t *testing.T) {
	m := loadManifests(t)
	doc := m.raw["Deployment"]
	if _, err := decodeObject(doc); err != nil {
		t.Fatalf("the Deployment as written: %v", err)
	}
	field := regexp.MustCompile(`(?m)^(\s*)terminationGracePeriodSeconds:`)
	if n := len(field.FindAllIndex(doc, -1)); n != 1 {
		t.Fatalf("the Deployment has %d terminationGracePeriodSeconds fields; want 1 to misspell", n)
	}
	replicas := regexp.MustCompile(`(?m)^(\s*)replicas: (\d+)$`)
	if !replicas.Match(doc) {
		t.Fatal("the Deployment has no replicas line to duplicate")
	}
	cases := []struct {
		name, want string
		doc        []byte
	}{
		{"misspelt field", `unknown field "terminationGracePeriodSecond"`,
			field.ReplaceAll(doc, []byte("${1}terminationGracePeriodSecond:"))},
		{"field in the wrong case", `unknown field "spec.template.spec.TerminationGracePeriodSeconds"`,
			field.ReplaceAll(doc, []byte("${1}TerminationGracePeriodSeconds:"))},
		{"duplicate key", `"replicas" already set`,
			replicas.ReplaceAll(doc, []byte("${1}replicas: ${2}\n${1}replicas: ${2}"))},
		{"unknown kind", `not a kind this test knows`,
			[]byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")},
		{"known kind, wrong apiVersion", `not a kind this test knows`,
			bytes.Replace(doc, []byte("apiVersion: apps/v1"), []byte("apiVersion: extensions/v1beta1"), 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeObject(tc.doc)
			if err == nil {
				t.Fatal("decoded without error; the strict decoder should refuse it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q; want it to mention %s", err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestPortsAndProbes: the container listens where the plugin server does
// by default; the Service, the probes, the metrics address and the scrape
// annotation agree with the container's ports; readiness asks for the
// Dispatcher's health.
func TestPortsAndProbes(t *testing.T) {
	m := loadManifests(t)
	c := m.container(t)
	envs := env(t, c)
	grpcPort := containerPort(t, c, grpcPortName)

	if want := addrPort(t, "grpcserver.DefaultAddr", grpcserver.DefaultAddr); grpcPort != want {
		t.Errorf("container port %s = %d; the plugin server listens on %d (grpcserver.DefaultAddr %q)",
			grpcPortName, grpcPort, want, grpcserver.DefaultAddr)
	}
	if e, ok := envs[config.EnvListenAddr]; ok {
		if p := addrPort(t, config.EnvListenAddr, e.Value); p != grpcPort {
			t.Errorf("%s=%q listens on %d; container port %s is %d", config.EnvListenAddr, e.Value, p, grpcPortName, grpcPort)
		}
	}

	sp := servicePort(t, m.svc, grpcPortName)
	if sp.Port != grpcPort {
		t.Errorf("Service port %s = %d; want the container's %d: the gateway dials pod IPs on the Service's port", grpcPortName, sp.Port, grpcPort)
	}
	switch sp.TargetPort.Type {
	case intstr.String:
		if sp.TargetPort.StrVal != grpcPortName {
			t.Errorf("Service targetPort %q; want the container port's name %q", sp.TargetPort.StrVal, grpcPortName)
		}
	case intstr.Int:
		if sp.TargetPort.IntVal != grpcPort {
			t.Errorf("Service targetPort %d; want %d", sp.TargetPort.IntVal, grpcPort)
		}
	}
	if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
		t.Errorf("Service port protocol %s; want TCP", sp.Protocol)
	}

	dispatcher := coprocess.Dispatcher_ServiceDesc.ServiceName
	probes := []struct {
		name     string
		p        *corev1.Probe
		required bool
		services []string // health service names the probe may ask for
	}{
		{"readinessProbe", c.ReadinessProbe, true, []string{dispatcher}},
		{"livenessProbe", c.LivenessProbe, true, []string{"", dispatcher}},
		{"startupProbe", c.StartupProbe, false, []string{"", dispatcher}},
	}
	for _, pr := range probes {
		if pr.p == nil {
			if pr.required {
				t.Errorf("%s: missing", pr.name)
			}
			continue
		}
		g := pr.p.GRPC
		if g == nil {
			t.Errorf("%s: want a native gRPC probe (grpc:); the image has no shell for exec probes", pr.name)
			continue
		}
		if g.Port != grpcPort {
			t.Errorf("%s: grpc.port %d; want the container's %s port %d", pr.name, g.Port, grpcPortName, grpcPort)
		}
		if g.Service == nil {
			t.Errorf("%s: grpc.service unset; want one of %q", pr.name, pr.services)
		} else if !slices.Contains(pr.services, *g.Service) {
			t.Errorf("%s: grpc.service %q; want one of %q (the plugin server registers \"\" and %q)", pr.name, *g.Service, pr.services, dispatcher)
		}
	}

	metricsPort := containerPort(t, c, metricsPortName)
	if p := addrPort(t, config.EnvMetricsAddr, literal(t, envs, config.EnvMetricsAddr)); p != metricsPort {
		t.Errorf("%s serves metrics on %d; container port %s is %d", config.EnvMetricsAddr, p, metricsPortName, metricsPort)
	}
	if a, ok := m.deploy.Spec.Template.Annotations["prometheus.io/port"]; ok && a != strconv.Itoa(int(metricsPort)) {
		t.Errorf("annotation prometheus.io/port %q; want the metrics port %d", a, metricsPort)
	}
}

// TestSelectorsAndNamespaces: the Deployment selects its own pods; the
// Service is headless and selects them, ready ones only; the PDB selects
// them; all three are in one namespace.
func TestSelectorsAndNamespaces(t *testing.T) {
	m := loadManifests(t)
	podLabels := labels.Set(m.deploy.Spec.Template.Labels)

	selects := func(what string, ls *metav1.LabelSelector) {
		t.Helper()
		if ls == nil || (len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0) {
			t.Errorf("%s: empty selector", what)
			return
		}
		sel, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		if !sel.Matches(podLabels) {
			t.Errorf("%s: selector %s does not match the pod template's labels %v", what, sel, podLabels)
		}
	}
	selects("Deployment "+m.deploy.Name, m.deploy.Spec.Selector)
	selects("PodDisruptionBudget "+m.pdb.Name, m.pdb.Spec.Selector)
	for i, tsc := range m.deploy.Spec.Template.Spec.TopologySpreadConstraints {
		selects(fmt.Sprintf("topologySpreadConstraints[%d]", i), tsc.LabelSelector)
	}

	if m.svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: clusterIP %q; want %q (headless), so that DNS returns every pod's IP for the gateway's round robin",
			m.svc.Name, m.svc.Spec.ClusterIP, corev1.ClusterIPNone)
	}
	if m.svc.Spec.Type != "" && m.svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service %s: type %s; a headless Service is type ClusterIP", m.svc.Name, m.svc.Spec.Type)
	}
	if m.svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: publishNotReadyAddresses true would hand the gateway starting and stopping pods", m.svc.Name)
	}
	if len(m.svc.Spec.Selector) == 0 {
		t.Errorf("Service %s: no selector", m.svc.Name)
	} else if sel := labels.SelectorFromSet(m.svc.Spec.Selector); !sel.Matches(podLabels) {
		t.Errorf("Service %s: selector %v is not a subset of the pod template's labels %v", m.svc.Name, m.svc.Spec.Selector, podLabels)
	}

	ns := m.deploy.Namespace
	if ns == "" {
		t.Errorf("Deployment %s: no namespace; tyk-oss-values.yaml names the Service by <name>.<namespace>.svc, so the manifests name the namespace", m.deploy.Name)
	}
	if m.svc.Namespace != ns || m.pdb.Namespace != ns {
		t.Errorf("namespaces differ: Deployment %q, Service %q, PodDisruptionBudget %q", ns, m.svc.Namespace, m.pdb.Namespace)
	}
}

// TestAvailability: several replicas, a rollout that never lowers capacity,
// and a PDB that lets one replica go at a time.
func TestAvailability(t *testing.T) {
	m := loadManifests(t)
	replicas := int32(1)
	if m.deploy.Spec.Replicas != nil {
		replicas = *m.deploy.Spec.Replicas
	}
	if replicas < 2 {
		t.Errorf("Deployment: %d replicas; want at least 2", replicas)
	}
	s := m.deploy.Spec.Strategy
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil {
		t.Fatalf("Deployment strategy %+v; want RollingUpdate with maxUnavailable 0, maxSurge 1", s)
	}
	if mu := s.RollingUpdate.MaxUnavailable; mu == nil || mu.String() != "0" {
		t.Errorf("rollingUpdate.maxUnavailable %v; want 0", mu)
	}
	if ms := s.RollingUpdate.MaxSurge; ms == nil || ms.String() != "1" {
		t.Errorf("rollingUpdate.maxSurge %v; want 1", ms)
	}

	p := m.pdb.Spec
	switch {
	case p.MaxUnavailable != nil && p.MinAvailable != nil:
		t.Error("PodDisruptionBudget: both minAvailable and maxUnavailable (the API refuses that)")
	case p.MaxUnavailable != nil:
		if p.MaxUnavailable.Type != intstr.Int || p.MaxUnavailable.IntVal != 1 {
			t.Errorf("PodDisruptionBudget maxUnavailable %s; want 1", p.MaxUnavailable)
		}
	case p.MinAvailable != nil:
		if p.MinAvailable.Type != intstr.Int || p.MinAvailable.IntVal != replicas-1 {
			t.Errorf("PodDisruptionBudget minAvailable %s; want %d (replicas - 1)", p.MinAvailable, replicas-1)
		}
	default:
		t.Error("PodDisruptionBudget: neither minAvailable nor maxUnavailable")
	}
}

// TestShutdownTimeline: the preStop sleep, the graceful stop and a margin
// fit in the grace period, and a Dispatch never outlasts the graceful stop.
func TestShutdownTimeline(t *testing.T) {
	m := loadManifests(t)
	c := m.container(t)
	envs := env(t, c)

	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("container: want lifecycle.preStop.sleep (the native sleep: the image has no shell), so that DNS drops the pod before the server sends GOAWAY")
	}
	if c.Lifecycle.PreStop.Exec != nil {
		t.Error("preStop.exec: the image has no shell or sleep binary; use preStop.sleep")
	}
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if preStop < time.Second {
		t.Errorf("preStop sleep %s; want a few seconds for the endpoints and DNS to drop the pod", preStop)
	}

	shutdown := duration(t, envs, config.EnvShutdownTimeout)
	dispatch := duration(t, envs, config.EnvDispatchTimeout)
	if shutdown <= 0 {
		t.Errorf("%s=%s; want a positive limit", config.EnvShutdownTimeout, shutdown)
	}
	if dispatch <= 0 {
		t.Errorf("%s=%s: unbounded calls could outlast the graceful stop", config.EnvDispatchTimeout, dispatch)
	}
	if shutdown < dispatch {
		t.Errorf("%s=%s < %s=%s: a drain could cut a call off", config.EnvShutdownTimeout, shutdown, config.EnvDispatchTimeout, dispatch)
	}

	gp := m.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds
	if gp == nil {
		t.Fatal("terminationGracePeriodSeconds unset (30 s default); write it out")
	}
	grace := time.Duration(*gp) * time.Second
	if need := preStop + shutdown + time.Second; grace < need {
		t.Errorf("terminationGracePeriodSeconds %s < preStop sleep %s + %s %s + 1 s margin = %s: the kubelet would kill in-flight calls",
			grace, preStop, config.EnvShutdownTimeout, shutdown, need)
	}
	t.Logf("preStop %s + graceful stop ≤ %s, grace period %s (margin %s)", preStop, shutdown, grace, grace-preStop-shutdown)
}

// TestEnvNamesKnownToPluginServer: every PLUGIN_* variable the Deployment
// sets is one the plugin server reads (a string constant in config.go), so
// the manifest names no setting that does not exist.
func TestEnvNamesKnownToPluginServer(t *testing.T) {
	known := pluginEnvNames(t)
	for _, must := range []string{config.EnvShutdownTimeout, config.EnvDispatchTimeout, config.EnvMaxConnectionAge, config.EnvReplica} {
		if _, ok := known[must]; !ok {
			t.Fatalf("%s: parsed no constant %s; the parser below is wrong", configSource, must)
		}
	}
	m := loadManifests(t)
	c := m.container(t)
	for _, e := range c.Env {
		if !strings.HasPrefix(e.Name, envPrefix) {
			continue
		}
		if _, ok := known[e.Name]; !ok {
			t.Errorf("env %s: the plugin server reads no such variable; it knows %s", e.Name, strings.Join(slices.Sorted(maps.Keys(known)), ", "))
		}
	}
}

// pluginEnvNames are the string constants of config.go whose value starts
// with PLUGIN_, by value, with the constant's name.
func pluginEnvNames(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, configSource, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || i >= len(vs.Names) {
					continue
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatalf("%s: %s: %v", configSource, fset.Position(lit.Pos()), err)
				}
				if strings.HasPrefix(s, envPrefix) {
					names[s] = vs.Names[i].Name
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s: no %s* constants found", configSource, envPrefix)
	}
	return names
}

// TestProductionSettings: the plugin server's own configuration loader
// accepts the Deployment's env, which is the production one: warn level,
// redaction on, no journal, no lab hooks, metrics on, a name per replica.
func TestProductionSettings(t *testing.T) {
	m := loadManifests(t)
	c := m.container(t)
	envs := env(t, c)

	if v := literal(t, envs, config.EnvLogLevel); v != "warn" {
		t.Errorf("%s=%q; want warn", config.EnvLogLevel, v)
	}
	if v := literal(t, envs, config.EnvRedact); v != "true" {
		t.Errorf("%s=%q; want true", config.EnvRedact, v)
	}
	if _, ok := envs[config.EnvJournalRedisURL]; ok {
		t.Errorf("%s set: the journal is for the lab; leave it unset in production", config.EnvJournalRedisURL)
	}
	if _, ok := envs[config.EnvLabHooks]; ok {
		t.Errorf("%s set: the examples and the gateway-fact probes are the lab's; production serves only its own hooks", config.EnvLabHooks)
	}
	replica, ok := envs[config.EnvReplica]
	if !ok || replica.ValueFrom == nil || replica.ValueFrom.FieldRef == nil || replica.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("%s: want it from the downward API, fieldRef metadata.name (the pod's name)", config.EnvReplica)
	}

	const podName = "tyk-plugin-server-7c9d8f6b5-x2x4q"
	getenv := func(name string) string {
		e, ok := envs[name]
		switch {
		case !ok:
			return ""
		case e.ValueFrom == nil:
			return e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			return podName
		}
		t.Fatalf("env %s: valueFrom %+v; this test can stand in only for fieldRef metadata.name", name, e.ValueFrom)
		return ""
	}
	cfg, err := config.Load(nil, getenv, io.Discard)
	if err != nil {
		t.Fatalf("the plugin server would not start with this env: %v", err)
	}
	if cfg.LogLevel != slog.LevelWarn {
		t.Errorf("loaded log level %s; want WARN", cfg.LogLevel)
	}
	if !cfg.Redact {
		t.Error("loaded redact=false")
	}
	if cfg.JournalRedisURL != "" {
		t.Errorf("loaded journal Redis URL %q; want none", cfg.JournalRedisURL)
	}
	if cfg.LabHooks {
		t.Error("loaded lab hooks on: production serves only the plugin's own hooks")
	}
	if cfg.MetricsAddr == "" {
		t.Error("loaded no metrics address")
	}
	if cfg.Replica != podName {
		t.Errorf("loaded replica %q; want the pod's name", cfg.Replica)
	}
	if cfg.MaxConnectionAge <= 0 {
		t.Errorf("loaded max connection age %s: a gateway would never re-resolve DNS and never find new replicas", cfg.MaxConnectionAge)
	}
	if cfg.DispatchTimeout > cfg.ShutdownTimeout {
		t.Errorf("loaded dispatch timeout %s > shutdown timeout %s", cfg.DispatchTimeout, cfg.ShutdownTimeout)
	}
}

// TestEnvWritesOutDefaults: the timings and sizes the Deployment writes
// out are the plugin server's defaults (grpcserver, config), so that the
// manifest and its comments follow when a default changes. Tune them in
// production by changing this test with the manifest.
func TestEnvWritesOutDefaults(t *testing.T) {
	m := loadManifests(t)
	envs := env(t, m.container(t))
	for _, d := range []struct {
		name string
		want time.Duration
	}{
		{config.EnvShutdownTimeout, grpcserver.DefaultShutdownTimeout},
		{config.EnvDispatchTimeout, config.DefaultDispatchTimeout},
		{config.EnvMaxConnectionAge, config.DefaultMaxConnectionAge},
	} {
		if got := duration(t, envs, d.name); got != d.want {
			t.Errorf("%s=%s; the plugin server's default is %s", d.name, got, d.want)
		}
	}
	for _, name := range []string{config.EnvMaxRecvBytes, config.EnvMaxSendBytes} {
		if v := literal(t, envs, name); v != strconv.Itoa(grpcserver.DefaultMaxMessageBytes) {
			t.Errorf("%s=%s; the plugin server's default is %d (grpcserver.DefaultMaxMessageBytes)", name, v, grpcserver.DefaultMaxMessageBytes)
		}
	}
}

// TestSecurity: non-root as the image's user, read-only root, no privilege
// escalation, no capabilities, RuntimeDefault seccomp (the restricted Pod
// Security Standard), the image's entrypoint, and resource requests.
func TestSecurity(t *testing.T) {
	m := loadManifests(t)
	c := m.container(t)
	pod := m.deploy.Spec.Template.Spec.SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container: no securityContext")
	}
	// The container's setting wins over the pod's.
	runAsNonRoot := first(sc.RunAsNonRoot, pod.RunAsNonRoot)
	runAsUser := first(sc.RunAsUser, pod.RunAsUser)
	runAsGroup := first(sc.RunAsGroup, pod.RunAsGroup)
	seccomp := first(sc.SeccompProfile, pod.SeccompProfile)

	uid, gid := dockerfileUser(t)
	if runAsNonRoot == nil || !*runAsNonRoot {
		t.Error("runAsNonRoot: want true")
	}
	if runAsUser == nil || *runAsUser != uid {
		t.Errorf("runAsUser %v; want %d, the image's USER (%s)", deref(runAsUser), uid, dockerfile)
	}
	if runAsGroup == nil || *runAsGroup != gid {
		t.Errorf("runAsGroup %v; want %d, the image's USER group (%s)", deref(runAsGroup), gid, dockerfile)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem: want true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation: want false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: want false")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities %+v; want drop ALL and add none", sc.Capabilities)
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %+v; want RuntimeDefault", seccomp)
	}
	if len(c.Command) > 0 {
		t.Errorf("command %q: the image's entrypoint /plugin-server is the server, and there is no shell", c.Command)
	}
	if len(c.Args) > 0 {
		t.Errorf("args %q: the server takes its settings from env here; args would run another mode or override env", c.Args)
	}
	if c.Image == "" || strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":") {
		t.Errorf("image %q; want a pinned tag", c.Image)
	}

	req := c.Resources.Requests
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := req[r]; !ok || q.IsZero() {
			t.Errorf("resources.requests.%s: unset", r)
		}
	}
	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || lim.IsZero() {
		t.Error("resources.limits.memory: unset")
	} else if r, ok := req[corev1.ResourceMemory]; ok && lim.Cmp(r) < 0 {
		t.Errorf("resources.limits.memory %s < requests.memory %s", lim.String(), r.String())
	}
	if m.deploy.Spec.Template.Spec.AutomountServiceAccountToken == nil || *m.deploy.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("automountServiceAccountToken: want false; the plugin server does not call the Kubernetes API")
	}
}

func first[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

func deref[T any](p *T) any {
	if p == nil {
		return "unset"
	}
	return *p
}

// dockerfileUser is the runtime image's USER uid:gid.
func dockerfileUser(t *testing.T) (uid, gid int64) {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var user string
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 2 && strings.EqualFold(f[0], "USER") {
			user = f[1] // the last USER is the runtime stage's
		}
	}
	u, g, ok := strings.Cut(user, ":")
	if !ok {
		t.Fatalf("%s: USER %q; want uid:gid", dockerfile, user)
	}
	uid, err1 := strconv.ParseInt(u, 10, 64)
	gid, err2 := strconv.ParseInt(g, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("%s: USER %q; want numeric uid:gid", dockerfile, user)
	}
	return uid, gid
}

// tykOSSValues is the part of the tyk-oss chart's values that
// tyk-oss-values.yaml sets. Decoded strictly, so that a misspelt key (which
// Helm would ignore) fails; add fields here when the file sets more.
type tykOSSValues struct {
	TykGateway struct {
		Gateway struct {
			ExtraEnvs []corev1.EnvVar `json:"extraEnvs"`
		} `json:"gateway"`
	} `json:"tyk-gateway"`
}

// TestGatewayValues: the gateway dials the headless Service by its DNS
// name with dns:/// and round robin, on the Service's port, with the same
// message-size limits as the plugin server.
func TestGatewayValues(t *testing.T) {
	data, err := os.ReadFile(valuesFile)
	if err != nil {
		t.Fatal(err)
	}
	var v tykOSSValues
	if err := decodeStrict(data, &v); err != nil {
		t.Fatalf("%s: %v (this test knows tyk-gateway.gateway.extraEnvs only; extend tykOSSValues for more)", valuesFile, err)
	}
	gw := map[string]string{}
	for _, e := range v.TykGateway.Gateway.ExtraEnvs {
		if _, dup := gw[e.Name]; dup {
			t.Errorf("%s: %s set twice", valuesFile, e.Name)
		}
		if e.ValueFrom != nil {
			t.Errorf("%s: %s: want a literal value", valuesFile, e.Name)
		}
		if !strings.HasPrefix(e.Name, "TYK_GW_") {
			t.Errorf("%s: %s is no gateway variable (TYK_GW_*)", valuesFile, e.Name)
		}
		gw[e.Name] = e.Value
	}
	if _, ok := gw[gwEnableCoproc]; ok {
		t.Errorf("%s: %s: the chart's gateway template sets it already; a second entry duplicates it in the pod's env", valuesFile, gwEnableCoproc)
	}
	get := func(name string) string {
		t.Helper()
		val, ok := gw[name]
		if !ok {
			t.Fatalf("%s: tyk-gateway.gateway.extraEnvs lacks %s", valuesFile, name)
		}
		return val
	}

	m := loadManifests(t)
	c := m.container(t)
	envs := env(t, c)
	sp := servicePort(t, m.svc, grpcPortName)

	target := get(gwServer)
	const scheme = "dns:///"
	hostPort, ok := strings.CutPrefix(target, scheme)
	if !ok {
		t.Fatalf("%s=%q; want %s<service>.<namespace>.svc.%s:<port>: dns:/// makes gRPC resolve every pod of the headless Service", gwServer, target, scheme, clusterDomain)
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatalf("%s=%q: %v", gwServer, target, err)
	}
	if want := m.svc.Name + "." + m.svc.Namespace + ".svc." + clusterDomain; host != want {
		t.Errorf("%s host %q; want %q (Service %s in namespace %q)", gwServer, host, want, m.svc.Name, m.svc.Namespace)
	}
	if port != strconv.Itoa(int(sp.Port)) {
		t.Errorf("%s port %s; want the Service's %s port %d", gwServer, port, grpcPortName, sp.Port)
	}
	if g := containerPort(t, c, grpcPortName); port != strconv.Itoa(int(g)) {
		t.Errorf("%s port %s; the gateway dials pod IPs directly, so want the container port %d", gwServer, port, g)
	}

	if rr := get(gwRoundRobin); rr != "true" {
		t.Errorf("%s=%q; want \"true\": without it the gateway sends every call down one connection", gwRoundRobin, rr)
	}

	size := func(what, v string) int {
		t.Helper()
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("%s=%q: want a positive number of bytes", what, v)
		}
		return n
	}
	gwRecv, gwSend := size(gwRecvMax, get(gwRecvMax)), size(gwSendMax, get(gwSendMax))
	srvRecv := size(config.EnvMaxRecvBytes, literal(t, envs, config.EnvMaxRecvBytes))
	srvSend := size(config.EnvMaxSendBytes, literal(t, envs, config.EnvMaxSendBytes))
	// What one side sends, the other must accept; and, as in the lab, one
	// limit for everything.
	if gwSend != srvRecv {
		t.Errorf("gateway %s=%d, plugin server %s=%d: want them equal", gwSendMax, gwSend, config.EnvMaxRecvBytes, srvRecv)
	}
	if srvSend != gwRecv {
		t.Errorf("plugin server %s=%d, gateway %s=%d: want them equal", config.EnvMaxSendBytes, srvSend, gwRecvMax, gwRecv)
	}
	if gwRecv != gwSend || srvRecv != srvSend {
		t.Errorf("size limits differ by direction (gateway recv %d send %d, plugin server recv %d send %d); want one limit, as in the lab", gwRecv, gwSend, srvRecv, srvSend)
	}
}
