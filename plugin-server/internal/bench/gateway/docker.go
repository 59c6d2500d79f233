// A minimal Docker Engine API client over the daemon's unix socket: find the
// lab's containers by their compose labels and read their cumulative CPU
// time. Nothing beyond the standard library.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

type docker struct {
	http *http.Client
}

// newDocker connects to $DOCKER_HOST when it is a unix socket, else to
// /var/run/docker.sock.
func newDocker() (*docker, error) {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			return nil, fmt.Errorf("DOCKER_HOST=%s: only a unix socket is supported", h)
		}
		sock = p
	}
	if _, err := os.Stat(sock); err != nil {
		return nil, fmt.Errorf("docker socket: %w", err)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}
	return &docker{http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

func (d *docker) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("docker %s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// container is a running container of the lab.
type container struct {
	ID, Name string
	// Network is one network it is attached to (the lab's).
	Network string
}

// findService returns the running container of a compose service.
func (d *docker) findService(ctx context.Context, project, service string) (container, error) {
	filters, _ := json.Marshal(map[string][]string{"label": {
		"com.docker.compose.project=" + project,
		"com.docker.compose.service=" + service,
	}})
	var list []struct {
		ID              string   `json:"Id"`
		Names           []string `json:"Names"`
		NetworkSettings struct {
			Networks map[string]json.RawMessage `json:"Networks"`
		} `json:"NetworkSettings"`
	}
	if err := d.get(ctx, "/containers/json?filters="+url.QueryEscape(string(filters)), &list); err != nil {
		return container{}, err
	}
	if len(list) == 0 {
		return container{}, fmt.Errorf("no running container for service %s of compose project %s", service, project)
	}
	c := container{ID: list[0].ID}
	if len(list[0].Names) > 0 {
		c.Name = strings.TrimPrefix(list[0].Names[0], "/")
	}
	for n := range list[0].NetworkSettings.Networks {
		c.Network = n
	}
	return c, nil
}

// cpu returns the container's cumulative CPU time.
func (d *docker) cpu(ctx context.Context, id string) (time.Duration, error) {
	var st struct {
		CPUStats struct {
			CPUUsage struct {
				TotalUsage uint64 `json:"total_usage"`
			} `json:"cpu_usage"`
		} `json:"cpu_stats"`
	}
	if err := d.get(ctx, "/containers/"+id+"/stats?stream=false&one-shot=true", &st); err != nil {
		return 0, err
	}
	if st.CPUStats.CPUUsage.TotalUsage == 0 {
		return 0, errors.New("docker stats: no CPU usage (cgroup not readable?)")
	}
	return time.Duration(st.CPUStats.CPUUsage.TotalUsage), nil
}
