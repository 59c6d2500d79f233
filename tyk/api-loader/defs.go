// Reading API definitions and keys from the apis/ directory.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// API is one definition file.
type API struct {
	File string
	ID   string
	OAS  bool
	// ListenPath is where the API answers on the gateway.
	ListenPath string
	Body       []byte
}

// Key is a demo key: its name is the file name, its body a Tyk session.
type Key struct {
	File string
	Name string
	// APIID is an API the key has access to: the Gateway API only finds a
	// key with ?api_id= when keys are hashed.
	APIID string
	Body  []byte
}

// Set is everything the loader keeps in the gateway.
type Set struct {
	APIs []API
	Keys []Key
}

// ReadDir reads dir/*.json as APIs and dir/keys/*.json as keys. A file that
// is not a valid definition fails with its name and the reason.
func ReadDir(dir string) (Set, error) {
	var set Set
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return set, err
	}
	if len(files) == 0 {
		return set, fmt.Errorf("no API definitions (*.json) in %s", dir)
	}
	sort.Strings(files)
	for _, f := range files {
		api, err := readAPI(f)
		if err != nil {
			return set, err
		}
		set.APIs = append(set.APIs, api)
	}
	keys, _ := filepath.Glob(filepath.Join(dir, "keys", "*.json"))
	sort.Strings(keys)
	for _, f := range keys {
		b, err := os.ReadFile(f)
		if err != nil {
			return set, err
		}
		var session struct {
			AccessRights map[string]json.RawMessage `json:"access_rights"`
		}
		if err := json.Unmarshal(b, &session); err != nil {
			return set, fmt.Errorf("%s: not a valid key session: %w", f, err)
		}
		ids := make([]string, 0, len(session.AccessRights))
		for id := range session.AccessRights {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return set, fmt.Errorf("%s: key grants access to no API (access_rights is empty)", f)
		}
		sort.Strings(ids)
		set.Keys = append(set.Keys, Key{File: f, Name: strings.TrimSuffix(filepath.Base(f), ".json"), APIID: ids[0], Body: b})
	}
	return set, nil
}

func readAPI(file string) (API, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return API{}, err
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		// Tyk OAS
		Tyk *struct {
			Info struct {
				ID string `json:"id"`
			} `json:"info"`
			Server struct {
				ListenPath struct {
					Value string `json:"value"`
				} `json:"listenPath"`
			} `json:"server"`
		} `json:"x-tyk-api-gateway"`
		// Tyk Classic
		APIID string `json:"api_id"`
		Proxy struct {
			ListenPath string `json:"listen_path"`
		} `json:"proxy"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return API{}, fmt.Errorf("%s: not a valid API definition: %w", file, err)
	}
	api := API{File: file, Body: b}
	switch {
	case doc.OpenAPI != "":
		if doc.Tyk == nil || doc.Tyk.Info.ID == "" {
			return api, fmt.Errorf("%s: Tyk OAS API without x-tyk-api-gateway.info.id", file)
		}
		api.OAS, api.ID, api.ListenPath = true, doc.Tyk.Info.ID, doc.Tyk.Server.ListenPath.Value
	case doc.APIID != "":
		api.ID, api.ListenPath = doc.APIID, doc.Proxy.ListenPath
	default:
		return api, errors.New(file + ": neither a Tyk OAS document (openapi) nor a Tyk Classic definition (api_id)")
	}
	if api.ListenPath == "" {
		return api, fmt.Errorf("%s: API %s has no listen path", file, api.ID)
	}
	return api, nil
}
