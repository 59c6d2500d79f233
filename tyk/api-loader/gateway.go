// A small client for the parts of Tyk's Gateway API the loader needs.
package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Gateway calls a Tyk Gateway's API.
type Gateway struct {
	URL    string
	secret string
	http   *http.Client
}

// NewGateway returns a client for the gateway at url.
func NewGateway(url, secret string) *Gateway {
	return &Gateway{URL: strings.TrimRight(url, "/"), secret: secret, http: &http.Client{Timeout: 10 * time.Second}}
}

// call sends a Gateway API request and returns status and body.
func (g *Gateway) call(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, g.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Tyk-Authorization", g.secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// must calls and fails on any status but 200 or 201.
func (g *Gateway) must(ctx context.Context, method, path string, body []byte) error {
	code, b, err := g.call(ctx, method, path, body)
	if err != nil {
		return err
	}
	if code != http.StatusOK && code != http.StatusCreated {
		return fmt.Errorf("%s %s: %d %s", method, path, code, bytes.TrimSpace(b))
	}
	return nil
}

// exists reports whether a GET of path finds something.
func (g *Gateway) exists(ctx context.Context, path string) (bool, error) {
	code, b, err := g.call(ctx, http.MethodGet, path, nil)
	switch {
	case err != nil:
		return false, err
	case code == http.StatusOK:
		return true, nil
	case code == http.StatusNotFound:
		return false, nil
	default:
		return false, fmt.Errorf("GET %s: %d %s", path, code, bytes.TrimSpace(b))
	}
}

// probe requests an API's listen path and returns the status.
func (g *Gateway) probe(ctx context.Context, listenPath string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.URL+listenPath, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Request-Id", "api-loader-probe")
	resp, err := g.http.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
