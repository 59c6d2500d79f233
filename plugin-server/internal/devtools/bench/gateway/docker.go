// The lab's containers through the Docker Engine API (the moby client, as
// the e2e suite uses): find them by their compose labels and read their
// cumulative CPU time.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

type docker struct{ c *client.Client }

// newDocker connects as the docker CLI does ($DOCKER_HOST or the default
// socket).
func newDocker() (*docker, error) {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &docker{c: c}, nil
}

// labContainer is a running container of the lab.
type labContainer struct {
	ID, Name string
	// Network is one network it is attached to (the lab's).
	Network string
}

// findService returns the running container of a compose service.
func (d *docker) findService(ctx context.Context, project, service string) (labContainer, error) {
	list, err := d.c.ContainerList(ctx, client.ContainerListOptions{
		Filters: make(client.Filters).Add("label",
			"com.docker.compose.project="+project, "com.docker.compose.service="+service),
	})
	if err != nil {
		return labContainer{}, err
	}
	if len(list.Items) == 0 {
		return labContainer{}, fmt.Errorf("no running container for service %s of compose project %s", service, project)
	}
	s := list.Items[0]
	c := labContainer{ID: s.ID}
	if len(s.Names) > 0 {
		c.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	if s.NetworkSettings != nil {
		for n := range s.NetworkSettings.Networks {
			c.Network = n
		}
	}
	return c, nil
}

// cpu returns the container's cumulative CPU time.
func (d *docker) cpu(ctx context.Context, id string) (time.Duration, error) {
	res, err := d.c.ContainerStats(ctx, id, client.ContainerStatsOptions{})
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("docker stats: %w", err)
	}
	if st.CPUStats.CPUUsage.TotalUsage == 0 {
		return 0, errors.New("docker stats: no CPU usage (cgroup not readable?)")
	}
	return time.Duration(st.CPUStats.CPUUsage.TotalUsage), nil
}
