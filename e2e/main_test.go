// The shared lab: TestMain, and bringing compose.yaml up once for the whole
// suite (or connecting to a running lab in external mode): prerequisites and
// skips, image build, readiness, mapped ports, teardown, and the containers'
// logs in the output of a failed test.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/compose"
)

const (
	// projectPrefix starts every project name the suite uses; `make up`'s
	// project (tyk-grpc-lab) can never match it.
	projectPrefix = "lab-e2e-"
	// journalDB is the Redis database of the journal (compose.yaml:
	// PLUGIN_JOURNAL_REDIS_URL=redis://tyk-redis:6379/1).
	journalDB = 1

	buildTimeout = 8 * time.Minute // a cold build downloads Go modules
	upTimeout    = 4 * time.Minute // api-loader's start_period is 120 s
	downTimeout  = 3 * time.Minute
	// requestTimeout bounds one request: with the plugin server gone, the
	// gateway's Dispatch waits for gRPC's 20 s connect timeout.
	requestTimeout = time.Minute
)

// Lab is a running lab, the suite's own or (external mode) one started with
// `make up`.
type Lab struct {
	GatewayURL string        // e.g. http://127.0.0.1:32770
	Redis      *redis.Client // the lab's Redis, journal database
	External   bool          // started by someone else: never stopped
	Version    version       // the gateway's, from /hello
	// MetricsURL is the plugin server's /metrics in external mode; the
	// suite's own lab is asked each time (scrape), since a restarted plugin
	// server gets another random host port.
	MetricsURL string
	// JaegerURL is Jaeger's query API and UI when the lab runs with its
	// tracing part (compose.tracing.yaml); NoTracing says why not.
	JaegerURL, NoTracing string
	// InspectorURL is the inspector's page (compose.yaml's inspector).
	InspectorURL string
	// UnhashedURL is the second gateway, hash_keys off
	// (compose.e2e.yaml's tyk-gateway-unhashed); empty in external mode.
	UnhashedURL string

	project string
	// root, files and cliEnv run the compose CLI and the lab's scripts on
	// the suite's own lab (composeCLI, script).
	root   string
	files  []string
	cliEnv []string
	stack  *compose.DockerCompose
	docker *testcontainers.DockerClient
	http   *http.Client
}

// shared is the suite's one lab.
var shared struct {
	once      sync.Once
	lab       *Lab
	skip      string // why the suite cannot run here
	err       error  // why the lab did not start
	startedBy string // the test whose output shows the start

	ctx    context.Context // cancelled on SIGINT/SIGTERM
	cancel context.CancelFunc

	mu      sync.Mutex
	stack   *compose.DockerCompose // to tear down
	project string
	torn    bool
}

func TestMain(m *testing.M) {
	shared.ctx, shared.cancel = context.WithCancel(context.Background())
	// Ryuk (testcontainers' reaper) is an image of its own, seldom present
	// offline; the suite tears its project down itself.
	if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !set {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Printf("e2e: %v: tearing the lab down before exiting\n", s)
		shared.cancel()
		if err := teardown(); err != nil {
			fmt.Println("e2e:", err)
		}
		os.Exit(1)
	}()

	code := m.Run()
	if err := teardown(); err != nil {
		fmt.Println("e2e:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// teardown removes the suite's stack, if it created one: containers,
// network, volumes and orphans. Images are kept (the base images are shared
// with `make up`; the built ones make the next run's build a cache hit).
func teardown() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.torn || shared.stack == nil {
		shared.torn = true
		return nil
	}
	shared.torn = true
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), downTimeout)
	defer cancel()
	err := shared.stack.Down(ctx, compose.RemoveOrphans(true), compose.RemoveVolumes(true))
	err = errors.Join(err, shared.stack.Close())
	if shared.lab != nil && shared.lab.Redis != nil {
		shared.lab.Redis.Close()
	}
	if err != nil {
		return fmt.Errorf("tearing down project %s: %w (remove it with: docker compose -p %[1]s down -v --remove-orphans)", shared.project, err)
	}
	fmt.Printf("e2e: lab %s torn down in %s\n", shared.project, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// getLab returns the suite's lab, starting it on first use. It skips the
// test when the suite cannot run here (failing instead with E2E_REQUIRE=1),
// and writes every container's logs into the output of a test that fails.
func getLab(t *testing.T) *Lab {
	t.Helper()
	shared.once.Do(func() {
		shared.startedBy = t.Name()
		shared.lab, shared.skip, shared.err = startLab(t)
	})
	if shared.skip != "" {
		if required() {
			t.Fatalf("E2E_REQUIRE is set, but the suite cannot run: %s", shared.skip)
		}
		t.Skipf("skipping the e2e suite: %s (E2E_REQUIRE=1 makes this a failure)", shared.skip)
	}
	if shared.err != nil {
		t.Fatalf("the lab did not start (see the output of %s for its containers' logs): %v", shared.startedBy, shared.err)
	}
	l := shared.lab
	if !l.External {
		start := time.Now()
		t.Cleanup(func() {
			if t.Failed() {
				l.logContainers(t, start)
			}
		})
	}
	return l
}

func required() bool {
	v, err := strconv.ParseBool(os.Getenv("E2E_REQUIRE"))
	return err == nil && v
}

// startLab brings the lab up, or connects to a running one in external
// mode. It returns a reason to skip when the suite cannot run here.
func startLab(t *testing.T) (*Lab, string, error) {
	if u := os.Getenv("E2E_GATEWAY_URL"); u != "" {
		l, err := connectExternal(t, u)
		return l, "", err
	}
	ctx := shared.ctx
	root, err := filepath.Abs("..") // go test runs in e2e/
	if err != nil {
		return nil, "", err
	}
	env, err := labEnv(root)
	if err != nil {
		return nil, "", err
	}

	docker, err := dockerClient(ctx)
	if err != nil {
		return nil, fmt.Sprintf("no Docker daemon reachable (%v)", err), nil
	}
	// The docker CLI (used to build) must talk to the daemon testcontainers
	// found.
	cliEnv := append(os.Environ(), "DOCKER_HOST="+docker.DaemonHost())
	version := exec.CommandContext(ctx, "docker", "compose", "version")
	version.Env = cliEnv
	if out, err := version.CombinedOutput(); err != nil {
		return nil, fmt.Sprintf("no `docker compose` CLI, which builds the lab's images: %v %s", err, bytes.TrimSpace(out)), nil
	}
	// The images are pinned in .env, and only there.
	for _, variable := range []string{"TYK_GATEWAY_IMAGE", "REDIS_IMAGE", "GO_IMAGE", "RUNTIME_IMAGE"} {
		ref := env.get(variable, "")
		if ref == "" {
			return nil, "", fmt.Errorf("%s is not set in .env (or the environment)", variable)
		}
		if reason := ensureImage(ctx, t, docker, variable, ref); reason != "" {
			return nil, reason, nil
		}
	}

	// The tracing part runs when its image is here: the tracing test needs
	// it, every other test runs with the gateway's and the plugin server's
	// tracing on (as a user of `make up TRACING=1` has them).
	files := []string{filepath.Join(root, "compose.yaml"), filepath.Join(root, "e2e", "compose.e2e.yaml")}
	noTracing := ensureImage(ctx, t, docker, "JAEGER_IMAGE", env.get("JAEGER_IMAGE", ""))
	if noTracing == "" {
		files = append(files, filepath.Join(root, "compose.tracing.yaml"))
	}

	project, err := projectName()
	if err != nil {
		return nil, "", err
	}
	l := &Lab{project: project, docker: docker, http: &http.Client{Timeout: requestTimeout}, NoTracing: noTracing,
		root: root, files: files, cliEnv: cliEnv}

	start := time.Now()
	if err := buildImages(ctx, root, files, cliEnv); err != nil {
		return nil, "", err
	}
	built := time.Since(start)

	stack, err := compose.NewDockerComposeWith(compose.WithStackFiles(files...), compose.StackIdentifier(project))
	if err != nil {
		return nil, "", fmt.Errorf("compose stack: %w", err)
	}
	// Random host ports: "0" in compose.yaml's 127.0.0.1:${..._PORT}:port.
	stack.WithEnv(map[string]string{"TYK_GATEWAY_PORT": "0", "PLUGIN_SERVER_PORT": "0", "LAB_REDIS_PORT": "0",
		"PLUGIN_METRICS_PORT": "0", "JAEGER_UI_PORT": "0", "INSPECTOR_PORT": "0"})
	l.stack = stack
	// Teardown is registered before Up's error is looked at: a half-started
	// stack is removed too.
	shared.mu.Lock()
	shared.stack, shared.project = stack, project
	shared.mu.Unlock()

	upCtx, cancel := context.WithTimeout(ctx, upTimeout)
	err = stack.Up(upCtx, compose.Wait(true), compose.RemoveOrphans(true))
	cancel()
	if err != nil {
		t.Logf("compose up of project %s failed after %s; the containers' logs follow", project, time.Since(start).Round(time.Second))
		l.logContainers(t, time.Time{})
		return nil, "", fmt.Errorf("compose up (project %s): %w", project, err)
	}

	gateway, err := l.endpoint(ctx, "tyk-gateway", "8080/tcp")
	if err != nil {
		return nil, "", err
	}
	redisAddr, err := l.endpoint(ctx, "tyk-redis", "6379/tcp")
	if err != nil {
		return nil, "", err
	}
	plugin, err := l.endpoint(ctx, "plugin-server", "50051/tcp")
	if err != nil {
		return nil, "", err
	}
	inspector, err := l.endpoint(ctx, "inspector", "7070/tcp")
	if err != nil {
		return nil, "", err
	}
	l.InspectorURL = "http://" + inspector
	if noTracing == "" {
		jaeger, err := l.endpoint(ctx, "jaeger", "16686/tcp")
		if err != nil {
			return nil, "", err
		}
		l.JaegerURL = "http://" + jaeger
	}
	unhashed, err := l.endpoint(ctx, "tyk-gateway-unhashed", "8080/tcp")
	if err != nil {
		return nil, "", err
	}
	l.GatewayURL, l.UnhashedURL = "http://"+gateway, "http://"+unhashed
	l.Redis = redis.NewClient(&redis.Options{Addr: redisAddr, DB: journalDB})
	if err := l.Redis.Ping(ctx).Err(); err != nil {
		return nil, "", fmt.Errorf("the lab's Redis at %s: %w", redisAddr, err)
	}
	if l.Version, err = gatewayVersion(ctx, l.http, l.GatewayURL); err != nil {
		return nil, "", err
	}
	t.Logf("lab %s up in %s (image build %s): gateway %s (version %s), Redis %s (journal: DB %d), plugin server %s",
		project, time.Since(start).Round(100*time.Millisecond), built.Round(100*time.Millisecond),
		l.GatewayURL, l.Version, redisAddr, journalDB, plugin)
	if noTracing == "" {
		t.Logf("tracing part on: Jaeger %s", l.JaegerURL)
	} else {
		t.Logf("tracing part off: %s", noTracing)
	}
	return l, "", nil
}

// connectExternal uses a lab that is already running, starting nothing.
func connectExternal(t *testing.T, gatewayURL string) (*Lab, error) {
	addr := os.Getenv("E2E_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6380"
	}
	l := &Lab{
		GatewayURL:   strings.TrimRight(gatewayURL, "/"),
		Redis:        redis.NewClient(&redis.Options{Addr: addr, DB: journalDB}),
		External:     true,
		MetricsURL:   os.Getenv("E2E_METRICS_URL"),
		JaegerURL:    os.Getenv("E2E_JAEGER_URL"),
		InspectorURL: os.Getenv("E2E_INSPECTOR_URL"),
		http:         &http.Client{Timeout: requestTimeout},
	}
	if l.InspectorURL == "" {
		l.InspectorURL = "http://127.0.0.1:7070"
	}
	if l.MetricsURL == "" {
		l.MetricsURL = "http://127.0.0.1:9464/metrics"
	}
	if l.JaegerURL == "" {
		l.NoTracing = "external mode without E2E_JAEGER_URL (the lab's Jaeger, make up TRACING=1)"
	}
	ctx, cancel := context.WithTimeout(shared.ctx, 10*time.Second)
	defer cancel()
	if err := l.Redis.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("external mode: the lab's Redis at %s (E2E_REDIS_ADDR) does not answer: %w", addr, err)
	}
	v, err := gatewayVersion(ctx, l.http, l.GatewayURL)
	if err != nil {
		return nil, fmt.Errorf("external mode: the gateway at %s (E2E_GATEWAY_URL): %w", l.GatewayURL, err)
	}
	l.Version = v
	t.Logf("external mode: gateway %s (version %s), Redis %s (journal: DB %d); nothing is started or stopped", l.GatewayURL, l.Version, addr, journalDB)
	return l, nil
}

// labSettings are .env's settings; get reads one as compose would.
type labSettings map[string]string

// labEnv reads the repository's .env (absent is fine: compose.yaml has
// defaults).
func labEnv(root string) (labSettings, error) {
	env, err := dotenv.Read(filepath.Join(root, ".env"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading .env: %w", err)
	}
	if env == nil {
		env = map[string]string{}
	}
	return env, nil
}

// get mirrors compose.yaml's ${NAME:-default}.
func (s labSettings) get(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	if v := s[name]; v != "" {
		return v
	}
	return def
}

// dockerClient connects to Docker the way testcontainers does.
func dockerClient(ctx context.Context) (c *testcontainers.DockerClient, err error) {
	defer func() {
		// testcontainers panics when it finds no Docker host at all.
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	c, err = testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(pingCtx, client.PingOptions{}); err != nil {
		return nil, err
	}
	return c, nil
}

// ensureImage returns a reason to skip unless the image is present or can
// be pulled.
func ensureImage(ctx context.Context, t *testing.T, docker *testcontainers.DockerClient, variable, ref string) string {
	_, err := docker.ImageInspect(ctx, ref)
	if err == nil {
		return ""
	}
	if !cerrdefs.IsNotFound(err) {
		return fmt.Sprintf("cannot inspect image %s (%s, from the environment or .env): %v", ref, variable, err)
	}
	t.Logf("image %s (%s) is not present locally: pulling it", ref, variable)
	pullCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	resp, err := docker.ImagePull(pullCtx, ref, client.ImagePullOptions{})
	if err == nil {
		err = resp.Wait(pullCtx)
	}
	if err != nil {
		return fmt.Sprintf("image %s (%s, from the environment or .env) is not present locally and cannot be pulled: %v", ref, variable, err)
	}
	return ""
}

// projectName is E2E_PROJECT or lab-e2e-<random>.
func projectName() (string, error) {
	p := os.Getenv("E2E_PROJECT")
	if p == "" {
		return projectPrefix + randomHex(4), nil
	}
	if !strings.HasPrefix(p, projectPrefix) || loader.NormalizeProjectName(p) != p {
		return "", fmt.Errorf("E2E_PROJECT=%q: the project name must start with %q and be a valid compose project name (lower case letters, digits, - and _)", p, projectPrefix)
	}
	return p, nil
}

// buildProject is the project name the images are built under: compose
// labels images with it, so a per-run name would make every run's images
// new ones (and the previous ones dangling) even when nothing changed.
const buildProject = "tyk-grpc-lab-e2e"

// buildImages builds the images of the services built from source with the
// docker compose CLI (see doc.go for why not the compose library).
func buildImages(ctx context.Context, root string, files, env []string) error {
	args := []string{"compose", "--project-name", buildProject}
	for _, f := range files {
		args = append(args, "--file", f)
	}
	args = append(args, "build")
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir = root
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("building the lab's images (docker %s): %w\n%s", strings.Join(args, " "), err, lastLines(out, 60))
	}
	return nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"[...]"}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// container returns a service's container in the suite's stack.
func (l *Lab) container(ctx context.Context, service string) (*testcontainers.DockerContainer, error) {
	c, err := l.stack.ServiceContainer(ctx, service)
	if err != nil {
		return nil, fmt.Errorf("container of service %s in project %s: %w", service, l.project, err)
	}
	return c, nil
}

// endpoint is host:port where a service's container port is published:
// the address compose.yaml binds it to (127.0.0.1), unless
// TESTCONTAINERS_HOST_OVERRIDE says otherwise or the binding is on every
// address, in which case the Docker host as testcontainers sees it.
func (l *Lab) endpoint(ctx context.Context, service, port string) (string, error) {
	c, err := l.container(ctx, service)
	if err != nil {
		return "", err
	}
	p, err := c.MappedPort(ctx, port)
	if err != nil {
		return "", fmt.Errorf("mapped port %s of service %s: %w", port, service, err)
	}
	in, err := c.Inspect(ctx)
	if err != nil {
		return "", fmt.Errorf("inspecting service %s: %w", service, err)
	}
	host := ""
	for k, bindings := range in.NetworkSettings.Ports {
		if k.String() == port && len(bindings) > 0 && bindings[0].HostIP.IsValid() && !bindings[0].HostIP.IsUnspecified() {
			host = bindings[0].HostIP.String()
		}
	}
	if _, override := os.LookupEnv("TESTCONTAINERS_HOST_OVERRIDE"); override || host == "" {
		if host, err = c.Host(ctx); err != nil {
			return "", fmt.Errorf("host of service %s: %w", service, err)
		}
	}
	return net.JoinHostPort(host, p.Port()), nil
}

// logContainers writes the logs of every container of the suite's project
// into the test's output: since `since`, or all of them when it is zero.
func (l *Lab) logContainers(t *testing.T, since time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := l.docker.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", "com.docker.compose.project="+l.project),
	})
	if err != nil {
		t.Logf("listing the containers of project %s for their logs: %v", l.project, err)
		return
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool {
		return items[i].Labels["com.docker.compose.service"] < items[j].Labels["com.docker.compose.service"]
	})
	window := "all"
	if !since.IsZero() {
		window = "since " + since.Add(-time.Second).UTC().Format(time.RFC3339)
	}
	if len(items) == 0 {
		t.Logf("project %s has no containers to show logs of", l.project)
	}
	for _, c := range items {
		service := c.Labels["com.docker.compose.service"]
		logs, err := l.logs(ctx, c.ID, since, true)
		if err != nil {
			t.Logf("logs of %s: %v", service, err)
			continue
		}
		t.Logf("==== logs of %s (%s, %s), %s ====\n%s", service, c.State, c.Status, window, logs)
	}
}

// logs returns a container's log (stdout and stderr), all of it or from a
// second before since, with or without timestamps.
func (l *Lab) logs(ctx context.Context, id string, since time.Time, timestamps bool) (string, error) {
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: timestamps}
	if !since.IsZero() {
		opts.Since = strconv.FormatInt(since.Add(-time.Second).Unix(), 10)
	}
	rc, err := l.docker.ContainerLogs(ctx, id, opts)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		fmt.Fprintf(&buf, "[reading the logs: %v]", err)
	}
	return buf.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
