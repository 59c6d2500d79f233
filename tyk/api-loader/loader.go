// Loading the set into the gateway and keeping it there.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Loader keeps a Set loaded in a gateway.
type Loader struct {
	GW  *Gateway
	Set Set
	Log *slog.Logger
}

func apiPath(a API) string {
	if a.OAS {
		return "/tyk/apis/oas/" + a.ID
	}
	return "/tyk/apis/" + a.ID
}

// LoadAndWait waits for the gateway, creates or updates every API and key,
// reloads the gateway, and waits until every API answers on its listen
// path.
func (l *Loader) LoadAndWait(ctx context.Context) error {
	if err := l.waitGateway(ctx); err != nil {
		return err
	}
	if err := l.load(ctx, false); err != nil {
		return err
	}
	return l.waitAnswering(ctx)
}

// Reconcile reloads whatever is missing (after a gateway restart, say).
func (l *Loader) Reconcile(ctx context.Context) error {
	return l.load(ctx, true)
}

// load creates what is missing and, unless onlyMissing, updates what exists
// so that edits to apis/ take effect. It reloads the gateway when it
// changed anything.
func (l *Loader) load(ctx context.Context, onlyMissing bool) error {
	changed := 0
	for _, a := range l.Set.APIs {
		ok, err := l.GW.exists(ctx, apiPath(a))
		if err != nil {
			return fmt.Errorf("%s: %w", a.File, err)
		}
		switch {
		case ok && onlyMissing:
			continue
		case ok:
			err = l.GW.must(ctx, http.MethodPut, apiPath(a), a.Body)
		case a.OAS:
			err = l.GW.must(ctx, http.MethodPost, "/tyk/apis/oas", a.Body)
		default:
			err = l.GW.must(ctx, http.MethodPost, "/tyk/apis", a.Body)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", a.File, err)
		}
		l.Log.Info("API loaded", "file", a.File, "api_id", a.ID, "oas", a.OAS, "listen_path", a.ListenPath, "updated", ok)
		changed++
	}
	for _, k := range l.Set.Keys {
		path := "/tyk/keys/" + url.PathEscape(k.Name)
		ok, err := l.GW.exists(ctx, path+"?api_id="+url.QueryEscape(k.APIID))
		if err != nil {
			return fmt.Errorf("%s: %w", k.File, err)
		}
		if ok && onlyMissing {
			continue
		}
		method := http.MethodPost
		if ok {
			method = http.MethodPut
		}
		if err := l.GW.must(ctx, method, path, k.Body); err != nil {
			return fmt.Errorf("%s: %w", k.File, err)
		}
		l.Log.Info("key loaded", "file", k.File)
		changed++
	}
	if changed == 0 {
		return nil
	}
	if err := l.GW.must(ctx, http.MethodGet, "/tyk/reload/group?block=true", nil); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}

// waitGateway polls /hello until the gateway is up.
func (l *Loader) waitGateway(ctx context.Context) error {
	return poll(ctx, func() error {
		return l.GW.must(ctx, http.MethodGet, "/hello", nil)
	})
}

// waitAnswering polls every API's listen path until none answers 404 (the
// gateway's answer for a path no API serves).
func (l *Loader) waitAnswering(ctx context.Context) error {
	for _, a := range l.Set.APIs {
		err := poll(ctx, func() error {
			code, err := l.GW.probe(ctx, a.ListenPath)
			if err != nil {
				return err
			}
			if code == http.StatusNotFound {
				return fmt.Errorf("%s (%s) answers 404: not loaded yet", a.ListenPath, a.ID)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// poll retries f every 500 ms until it succeeds or ctx ends, and then
// returns f's last error.
func poll(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
