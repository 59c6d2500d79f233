// Command editlive measures `make dev`'s edit → live time: it starts `make
// dev` (scripts/dev.sh, the lab included), edits
// plugin-server/plugin/hooks.go so that
// MyPreRequestPlugin sets X-Dev-Edit: <n>, and times from the saved file to
// the first request through /classic/ whose upstream got that header,
// counting the requests that failed meanwhile (the swap, the gateway's
// reconnect), then stops `make dev` and does the same with `make up`'s
// path (the plugin server's image rebuilt and its container recreated, the
// gateway calling the container): the ratio of the two is the BENCH line.
// hooks.go is restored at the end. Run it with the lab down or up (make
// up); it leaves the lab up.
//
//	go run ./plugin-server/internal/devtools/bench/editlive [-n 5]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const hooksFile = "plugin-server/plugin/hooks.go"

// The line edited: MyPreRequestPlugin's return.
const anchor = "func MyPreRequestPlugin(ctx context.Context, obj *coprocess.Object) (*coprocess.Object, error) {\n"

func main() {
	n := flag.Int("n", 5, "edits to time")
	gateway := flag.String("gateway", "http://127.0.0.1:"+envOr("TYK_GATEWAY_PORT", "8080"), "the lab's gateway")
	flag.Parse()

	orig, err := os.ReadFile(hooksFile)
	if err != nil || !bytes.Contains(orig, []byte(anchor)) {
		log.Fatalf("devloop bench: %s: %v (or MyPreRequestPlugin not found)", hooksFile, err)
	}
	// From here every way out restores hooks.go and stops make dev.
	cleanup = func() {
		if dev != nil && dev.Process != nil {
			// make dev points the gateway back at the container on its way
			// out: let it finish (its output goes through this process).
			syscall.Kill(-dev.Process.Pid, syscall.SIGINT) // no-op once it ended
			select {
			case <-devExited:
			case <-time.After(2 * time.Minute):
			}
		}
		if err := os.WriteFile(hooksFile, orig, 0o644); err != nil {
			log.Printf("restoring %s: %v", hooksFile, err)
		}
	}
	defer cleanup()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() { fatalf("devloop bench: %v", <-sigs) }()

	// make dev, until it serves.
	devCmd := exec.Command("bash", "scripts/dev.sh")
	dev = devCmd
	devCmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	devCmd.Stdout, devCmd.Stderr = os.Stderr, io.MultiWriter(os.Stderr, pw)
	if err := devCmd.Start(); err != nil {
		fatalf("%v", err)
	}
	serving, exited := make(chan struct{}), devExited
	go func() {
		sc := bufio.NewScanner(pr)
		once := false
		for sc.Scan() {
			if !once && strings.Contains(sc.Text(), "devloop: serving on") {
				once = true
				close(serving)
			}
		}
	}()
	go func() { err := devCmd.Wait(); exited <- err; close(exited) }()
	select {
	case <-serving:
	case err := <-exited:
		fatalf("devloop bench: make dev ended before it served: %v", err)
	case <-time.After(10 * time.Minute):
		fatalf("devloop bench: make dev did not serve within 10 minutes")
	}
	waitFor(*gateway, "", 2*time.Minute) // the first request through the dev server
	dev := measure(*gateway, orig, *n, "dev", nil)
	// Ctrl-C: devloop stops, dev.sh points the gateway back at the container.
	syscall.Kill(-devCmd.Process.Pid, syscall.SIGINT)
	<-exited
	pw.Close()
	report("make dev", dev)

	// The baseline: each edit rebuilt as `make up` does.
	base := measure(*gateway, orig, *n, "up", func() {
		run("docker", "compose", "up", "--detach", "--build", "--wait", "plugin-server")
	})
	report("make up (image rebuilt)", base)
	report("make dev", dev)
	fmt.Printf("BENCH edit_to_live dev=%.1fs up=%.1fs ratio=%.2f\n", median(dev), median(base), median(base)/median(dev))
}

// cleanup undoes the bench's edit and stops make dev; fatalf runs it
// before exiting, which deferred calls would not see.
var (
	cleanup   = func() {}
	dev       *exec.Cmd
	devExited = make(chan error, 1)
)

func fatalf(format string, args ...any) {
	log.Printf(format, args...)
	cleanup()
	os.Exit(1)
}

type sample struct {
	took   time.Duration
	failed int
}

// measure makes n edits, each setting X-Dev-Edit to a new value, and times
// each until a request shows it. after, when set, runs after each save.
func measure(gateway string, orig []byte, n int, tag string, after func()) []sample {
	var out []sample
	for i := 1; i <= n; i++ {
		val := fmt.Sprintf("%s-%d-%d", tag, i, time.Now().UnixNano())
		src := bytes.Replace(orig, []byte(anchor), []byte(anchor+"\ttykplugin.SetHeader(obj, \"X-Dev-Edit\", "+strconv.Quote(val)+")\n"), 1)
		start := time.Now()
		if err := os.WriteFile(hooksFile, src, 0o644); err != nil {
			fatalf("%v", err)
		}
		if after != nil {
			after()
		}
		failed := waitFor(gateway, val, 120*time.Second)
		s := sample{took: time.Since(start), failed: failed}
		log.Printf("%s edit %d: live after %.2f s (%d requests failed meanwhile)", tag, i, s.took.Seconds(), failed)
		out = append(out, s)
		time.Sleep(time.Second) // let the loop settle before the next edit
	}
	return out
}

// waitFor polls /classic/ until the upstream got X-Dev-Edit: val, and
// counts the requests that failed (not 200) meanwhile.
func waitFor(gateway, val string, limit time.Duration) (failed int) {
	deadline := time.Now().Add(limit)
	c := &http.Client{Timeout: 5 * time.Second}
	for time.Now().Before(deadline) {
		resp, err := c.Get(gateway + "/classic/anything/devbench")
		if err != nil {
			failed++
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var echo struct{ Headers map[string][]string }
		err = json.NewDecoder(resp.Body).Decode(&echo)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			failed++
		} else if val == "" || slices.Contains(echo.Headers["X-Dev-Edit"], val) {
			return failed
		}
		time.Sleep(20 * time.Millisecond)
	}
	fatalf("devloop bench: the edit %s was not live after %s", val, limit)
	return failed
}

func report(name string, s []sample) {
	var took []string
	failed := 0
	for _, x := range s {
		took = append(took, fmt.Sprintf("%.1f", x.took.Seconds()))
		failed += x.failed
	}
	fmt.Printf("%s: edit → live median %.1f s (each: %s s), %d requests failed during the swaps\n",
		name, median(s), strings.Join(took, ", "), failed)
}

func median(s []sample) float64 {
	d := make([]float64, len(s))
	for i, x := range s {
		d[i] = x.took.Seconds()
	}
	slices.Sort(d)
	return d[len(d)/2]
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
