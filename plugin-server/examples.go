package main

import "github.com/tyk-lab/grpc-plugin-lab/plugin-server/examples"

// The lab's examples, served with PLUGIN_LAB_HOOKS beside the plugin's
// hooks. `make remove-examples` deletes this file with the examples.
func init() { labHooks = append(labHooks, examples.Hooks) }
