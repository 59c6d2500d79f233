// Plugin-server replicas behind the real gateway's round robin, under a
// steady load through the gateway: scaling up (how long until a new
// replica gets calls), the spread, `make rollout` (no request may fail), a
// replica SIGKILLed (the requests lost, the time until all serve again),
// and the single replica of `make up` restarted. Each figure is logged as
// "FIGURE name=value" for docs/production.md and BENCHMARKS.md.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// replicaCount is how many replicas the test runs (the 3).
const replicaCount = 3

// Bounds, from what the gateway's gRPC client does: it asks DNS again only
// when a connection ends — the server's max connection age (30 s) — and at
// most every 30 s (grpc-go's DNS resolver).
const (
	discoveryBound = 100 * time.Second
	recoveryBound  = 100 * time.Second
)

func TestReplicas(t *testing.T) {
	base := getLab(t)
	if base.External {
		t.Skip("external mode: the suite does not start a lab of replicas")
	}
	// A lab of its own, started as a user starts one (make up, with
	// PLUGIN_REPLICAS=2), so that the shared lab keeps its one replica.
	l := base.startCLILab(t, 2)

	// make up again under load, after a change to the plugin server's
	// configuration (what an edit of the plugin is to compose: the
	// replicas are stale) and with a replica more (PLUGIN_REPLICAS=3):
	// compose alone would recreate every replica at once; make up rolls
	// the stale ones over one at a time, then adds the third, and not one
	// request fails. The gateway finds each new one when it asks DNS
	// again.
	before := l.replicaNames(t)
	l.cliEnv = append(slices.Clone(l.cliEnv), "PLUGIN_DISPATCH_TIMEOUT=4s")
	ld := l.startLoad(t, 4)
	time.Sleep(2 * time.Second)
	start := time.Now()
	t.Logf("%s: make up with PLUGIN_REPLICAS=%d and PLUGIN_DISPATCH_TIMEOUT changed", start.Format("15:04:05.000"), replicaCount)
	l.up(t, replicaCount)
	names := l.replicaNames(t)
	waitServingSince(t, l, ld, names, start, discoveryBound, "the new replicas")
	took := time.Since(start)
	st := ld.stop(t, "make up over running replicas", 0)
	t.Logf("FIGURE scale_up_seconds=%.1f scale_up_failed=%d scale_up_requests=%d (from make up with PLUGIN_REPLICAS=%d and a changed configuration until every new replica got calls)",
		took.Seconds(), st.failed, st.sent, replicaCount)
	if slices.ContainsFunc(names, func(n string) bool { return slices.Contains(before, n) }) {
		t.Errorf("after make up over stale replicas %v the replicas are %v; want every one replaced", before, names)
	}

	// The spread: every replica gets a fair share.
	ld = l.startLoad(t, 4)
	mark := time.Now()
	time.Sleep(5 * time.Second)
	st = ld.stop(t, "spread", 0)
	share := ld.servedSince(mark)
	for _, n := range names {
		if share[n] < st.ok/replicaCount/3 {
			t.Errorf("replica %s served %d of %d requests: round robin should give each about a third (%v)", n, share[n], st.ok, share)
		}
	}
	t.Logf("spread of %d requests over %d replicas: %v", st.ok, replicaCount, share)

	// make rollout under load: not one request fails.
	ld = l.startLoad(t, 4)
	start = time.Now()
	l.script(t, 8*time.Minute, map[string]string{"PLUGIN_REPLICAS": fmt.Sprint(replicaCount)}, "scripts/rollout.sh")
	took = time.Since(start)
	st = ld.stop(t, "rollout", 0)
	t.Logf("FIGURE rollout_seconds=%.0f rollout_requests=%d rollout_failed=%d (%d replicas replaced one at a time)", took.Seconds(), st.sent, st.failed, replicaCount)
	if now := l.replicaNames(t); len(now) != replicaCount || slices.ContainsFunc(now, func(n string) bool { return slices.Contains(names, n) }) {
		t.Errorf("after the rollout the replicas are %v; want %d new ones (before: %v)", now, replicaCount, names)
	}
	names = l.replicaNames(t)

	// A replica SIGKILLed under load: the calls in flight on it are lost;
	// Docker restarts it (restart: unless-stopped) and the gateway finds
	// it again.
	ld = l.startLoad(t, 4)
	time.Sleep(2 * time.Second)
	victim := names[0]
	kill := time.Now()
	crash(t, victim)
	waitServingSince(t, l, ld, names, kill.Add(time.Second), recoveryBound, "every replica, the killed one restarted")
	recovered := time.Since(kill)
	st = ld.stop(t, "kill", 10)
	t.Logf("FIGURE kill_failed=%d kill_requests=%d kill_recovery_seconds=%.1f (replica %s SIGKILLed)", st.failed, st.sent, recovered.Seconds(), victim)

	// The single replica of `make up`, restarted (docker restart: SIGTERM,
	// a graceful stop, a start): what a user gets without replicas.
	l.up(t, 1)
	names = l.replicaNames(t)
	ld = l.startLoad(t, 4)
	time.Sleep(2 * time.Second)
	start = time.Now()
	docker(t, "restart", names[0])
	waitServingSince(t, l, ld, names, time.Now(), recoveryBound, "the restarted replica")
	st = ld.stop(t, "single restart", -1)
	t.Logf("FIGURE single_restart_failed=%d single_restart_requests=%d single_restart_seconds=%.1f", st.failed, st.sent, time.Since(start).Seconds())
}

// startCLILab starts a lab of its own with the compose CLI, as make up
// does (scripts/up.sh), with n replicas; it is torn down when the test
// ends.
func (base *Lab) startCLILab(t *testing.T, n int) *Lab {
	t.Helper()
	l := &Lab{project: "lab-e2e-replicas-" + randomHex(4), root: base.root, files: base.files, cliEnv: base.cliEnv,
		docker: base.docker, http: base.http, Version: base.Version}
	// Registered before the start: a half-started lab goes too.
	t.Cleanup(func() { l.composeCLI(t, downTimeout, "down", "--volumes", "--remove-orphans") })
	l.up(t, n)
	gw := strings.TrimSpace(l.composeCLI(t, time.Minute, "port", "tyk-gateway", "8080"))
	rd := strings.TrimSpace(l.composeCLI(t, time.Minute, "port", "tyk-redis", "6379"))
	l.GatewayURL = "http://" + gw
	l.Redis = redis.NewClient(&redis.Options{Addr: rd, DB: journalDB})
	t.Cleanup(func() { l.Redis.Close() })
	return l
}

// up runs make up's script with PLUGIN_REPLICAS=n.
func (l *Lab) up(t *testing.T, n int) {
	t.Helper()
	l.script(t, 6*time.Minute, map[string]string{"PLUGIN_REPLICAS": fmt.Sprint(n)}, "scripts/up.sh")
	if got := len(l.replicaNames(t)); got != n {
		t.Fatalf("make up with PLUGIN_REPLICAS=%d: %d replicas run", n, got)
	}
}

// composeCLI runs the compose CLI on the lab.
func (l *Lab) composeCLI(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	full := []string{"compose", "-p", l.project}
	for _, f := range l.files {
		full = append(full, "-f", f)
	}
	return l.run(t, timeout, nil, "docker", append(full, args...)...)
}

// script runs one of the lab's scripts on the lab, as make would.
func (l *Lab) script(t *testing.T, timeout time.Duration, env map[string]string, path string) string {
	t.Helper()
	return l.run(t, timeout, env, "bash", path)
}

// run runs a command on the lab: COMPOSE names it, its host ports are
// random (0; the scripts ask Docker which), env adds to that.
func (l *Lab) run(t *testing.T, timeout time.Duration, env map[string]string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(shared.ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = l.root
	composeCmd := "docker compose -p " + l.project
	for _, f := range l.files {
		composeCmd += " -f " + f
	}
	cmd.Env = append(slices.Clone(l.cliEnv), "COMPOSE="+composeCmd,
		"TYK_GATEWAY_PORT=0", "PLUGIN_SERVER_PORT=0", "PLUGIN_METRICS_PORT=0", "LAB_REDIS_PORT=0",
		"INSPECTOR_PORT=0", "JAEGER_UI_PORT=0")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	if name == "bash" {
		// What compose did to the containers, and the script's last words.
		var did []string
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "Container" && !slices.Contains([]string{"Running", "Waiting", "Healthy"}, f[2]) {
				did = append(did, line)
			}
		}
		t.Logf("%s %s (%.1f s):\n%s\n%s", name, strings.Join(args, " "), time.Since(start).Seconds(), strings.Join(did, "\n"), lastLines(out, 6))
	}
	return string(out)
}

// replicaNames are the running plugin servers' container names: what the
// journal's replica field says.
func (l *Lab) replicaNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, id := range strings.Fields(l.composeCLI(t, time.Minute, "ps", "-q", "plugin-server")) {
		names = append(names, strings.TrimPrefix(strings.TrimSpace(docker(t, "inspect", "-f", "{{.Name}}", id)), "/"))
	}
	slices.Sort(names)
	return names
}

// crash SIGKILLs a container's process from the host, as a crash or the
// OOM killer would: Docker's restart policy (unless-stopped) then starts it
// again. With a Docker host elsewhere, docker kill and a docker start stand
// in (Docker takes a kill for a stop and would not restart it).
func crash(t *testing.T, name string) {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.Pid}}", name)))
	if err == nil && pid > 0 {
		if err = syscall.Kill(pid, syscall.SIGKILL); err == nil {
			return
		}
	}
	t.Logf("cannot SIGKILL %s's process from here (%v): docker kill, then docker start", name, err)
	docker(t, "kill", "--signal", "KILL", name)
	time.Sleep(time.Second)
	docker(t, "start", name)
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// load is a steady load through the gateway: workers each sending
// requests to /classic/ one after another, with a pause, every request
// answered 200 by the upstream unless something failed.
type load struct {
	l      *Lab
	cancel context.CancelFunc
	wg     sync.WaitGroup
	prefix string

	sent, failed atomic.Int64
	mu           sync.Mutex
	failures     []string
}

type loadStats struct{ sent, ok, failed int }

func (l *Lab) startLoad(t *testing.T, workers int) *load {
	ctx, cancel := context.WithCancel(shared.ctx)
	ld := &load{l: l, cancel: cancel, prefix: "load-" + randomHex(4)}
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range workers {
		ld.wg.Add(1)
		go func() {
			defer ld.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				ld.one(ctx, client, fmt.Sprintf("%s-%d-%d", ld.prefix, w, i))
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	t.Cleanup(cancel)
	return ld
}

func (ld *load) one(ctx context.Context, client *http.Client, id string) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ld.l.GatewayURL+"/classic/anything/"+id, nil)
	req.Header.Set("X-Request-Id", id)
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return // stopped: not a request of the load
	}
	ld.sent.Add(1)
	why := ""
	if err != nil {
		why = err.Error()
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			why = fmt.Sprintf("HTTP %d %.100s", resp.StatusCode, b)
		}
	}
	if why != "" {
		ld.failed.Add(1)
		ld.mu.Lock()
		ld.failures = append(ld.failures, time.Now().Format("15:04:05.000")+" "+id+": "+why)
		ld.mu.Unlock()
	}
}

// stop ends the load and fails the test when more than maxFailed requests
// failed (-1: any number, only reported).
func (ld *load) stop(t *testing.T, what string, maxFailed int) loadStats {
	t.Helper()
	ld.cancel()
	ld.wg.Wait()
	st := loadStats{sent: int(ld.sent.Load()), failed: int(ld.failed.Load())}
	st.ok = st.sent - st.failed
	if st.sent == 0 {
		t.Fatalf("%s: the load sent nothing", what)
	}
	if maxFailed >= 0 && st.failed > maxFailed {
		t.Errorf("%s: %d of %d requests failed, want at most %d:\n%s\nthe journal's errors:\n%s", what, st.failed, st.sent, maxFailed,
			strings.Join(ld.failures[:min(len(ld.failures), 20)], "\n"), ld.journalErrors())
		var gw []string
		for _, line := range strings.Split(ld.l.composeCLI(t, time.Minute, "logs", "--since", "10m", "tyk-gateway"), "\n") {
			if strings.Contains(line, "level=error") && len(gw) < 8 {
				gw = append(gw, line)
			}
		}
		t.Logf("the gateway's errors:\n%s", strings.Join(gw, "\n"))
	} else if st.failed > 0 {
		t.Logf("%s: %d of %d requests failed:\n%s", what, st.failed, st.sent, strings.Join(ld.failures, "\n"))
	}
	return st
}

// journalErrors are the first errors the journal holds for the load.
func (ld *load) journalErrors() string {
	msgs, _ := ld.l.Redis.XRange(context.Background(), "plugin-lab:journal", "-", "+").Result()
	var out []string
	for _, m := range msgs {
		raw, _ := m.Values["record"].(string)
		if strings.Contains(raw, ld.prefix) && strings.Contains(raw, `"error":`) && len(out) < 10 {
			out = append(out, raw)
		}
	}
	return strings.Join(out, "\n")
}

// servedSince counts the load's dispatches per replica in the journal
// since t.
func (ld *load) servedSince(since time.Time) map[string]int {
	out := map[string]int{}
	msgs, err := ld.l.Redis.XRange(context.Background(), "plugin-lab:journal", fmt.Sprintf("%d", since.UnixMilli()), "+").Result()
	if err != nil {
		return out
	}
	for _, m := range msgs {
		raw, _ := m.Values["record"].(string)
		// Only the load's own Pre dispatches, one per request.
		if !strings.Contains(raw, `"correlation_id":"`+ld.prefix) || !strings.Contains(raw, `"hook_type":"Pre"`) {
			continue
		}
		i := strings.Index(raw, `"replica":"`)
		if i < 0 {
			continue
		}
		name, _, _ := strings.Cut(raw[i+len(`"replica":"`):], `"`)
		out[name]++
	}
	return out
}

func waitServing(t *testing.T, l *Lab, ld *load, names []string, bound time.Duration, what string) {
	t.Helper()
	waitServingSince(t, l, ld, names, time.Now(), bound, what)
}

// waitServingSince waits until each replica named served a request of the
// load after since.
func waitServingSince(t *testing.T, l *Lab, ld *load, names []string, since time.Time, bound time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		served := ld.servedSince(since)
		missing := slices.DeleteFunc(slices.Clone(names), func(n string) bool { return served[n] > 0 })
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: within %v, replicas %v got no call (served: %v)", what, bound, missing, served)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
