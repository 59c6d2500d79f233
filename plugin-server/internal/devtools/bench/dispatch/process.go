// Child processes of the benchmark: started with their output to a log
// file, measured (CPU time from /proc), stopped gracefully at the end.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

type process struct {
	name    string
	cmd     *exec.Cmd
	log     string
	logFile *os.File
	done    atomic.Bool
	waited  chan struct{}
}

type processes []*process

// start runs bin with args, its stdout and stderr going to logPath. A nil
// env inherits this process's environment.
func (ps *processes) start(ctx context.Context, name, logPath string, env []string, bin string, args ...string) (*process, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	// Should this program die, so do its children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, logFile: f, waited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.done.Store(true)
		f.Close()
		close(p.waited)
	}()
	*ps = append(*ps, p)
	return p, nil
}

func (p *process) exited() bool { return p.done.Load() }

// terminate sends SIGTERM and waits, killing the process after timeout.
func (p *process) terminate(timeout time.Duration) error {
	if p.exited() {
		return fmt.Errorf("%s had exited before the end:\n%s", p.name, p.tail())
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waited:
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.waited
		return fmt.Errorf("%s did not stop within %v after SIGTERM", p.name, timeout)
	}
}

// stopAll stops whatever is still running.
func (ps processes) stopAll() {
	for i := len(ps) - 1; i >= 0; i-- {
		if !ps[i].exited() {
			_ = ps[i].terminate(5 * time.Second)
		}
	}
}

// cpu is the user+system CPU time the process used so far, or -1 when
// unknown.
func (p *process) cpu() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; fields are counted
	// after its closing parenthesis.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return -1
	}
	return time.Duration(ut+st) * time.Second / clockTicks
}

// tail is the end of the process's log, for error messages.
func (p *process) tail() string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return p.name + " log (" + p.log + "):\n  " + strings.Join(lines, "\n  ")
}
