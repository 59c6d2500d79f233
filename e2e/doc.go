// Package e2e is the lab's end-to-end suite: it runs the real Tyk Gateway
// of compose.yaml against the plugin server and proves, from the plugin
// server's journal (Redis DB 1, stream "plugin-lab:journal"), that each
// request through a plugin API reaches Dispatch exactly twice, Pre
// (MyPreRequestPlugin) then Response (MyResponsePlugin), with the right API,
// session and status, while the client gets the upstream's answer unchanged.
// It also covers the API without plugins (no dispatch at all), the
// AuthFailure event of a bad key, the gateway's 500 "Middleware error" while
// the plugin server is down and its recovery, that the demo key never
// appears raw in the journal, and the message-size boundary. Those two
// hooks are the template's, yours to change: the suite expects them to
// succeed, not to echo, so a hook that adds a header (README, "Your first
// hook") passes it unchanged; one that rewrites what the client gets makes
// the round trips' "the client gets the upstream's answer" fail, and says
// where.
//
// TestGatewayFacts (facts_test.go) proves each fact of
// plugin-server/returned, docs/gateway.md's table "What the gateway does with
// what you return", and checks that plugintest's model
// (gatewaymodel.Apply), given the objects the journal holds, predicts what
// the real gateway did. The inspector's browser test (inspector_test.go)
// opens a request of the demo key and finds no secret on the page or in
// the inspector's API.
//
// The lab's examples (plugin-server/examples) have tests of their own, in
// examples_test.go and examples_*_test.go, which `make remove-examples`
// deletes with them: TestExamples, on the Classic and OAS APIs that wire all five
// hooks (what the upstream received, what the client got, the hooks in the
// journal in lifecycle order, the ID extractor's cache, the refusals, and
// the model's predictions); per-API configuration (TestPerAPIConfig:
// ExampleConfigured on a Classic, an OAS and a misconfigured API;
// TestConfigDataFacts: what the gateway sends as spec["config_data"],
// configDataFacts, docs/gateway.md's table); observability
// (TestMetricsCountWhatTheJournalHolds: the plugin server's Prometheus
// metrics move by exactly what the journal holds;
// TestTraceThroughEveryHook: with the tracing part, compose.tracing.yaml,
// added when the Jaeger image is present, one request through the five
// example hooks is one trace in Jaeger, each hook's span the child of the
// gateway's, from 5.11.0); the deadline and fail-open
// (TestDeadlineTheGatewayLacks); and the inspector showing the five hooks
// and a refused token (TestInspectorInBrowser). Their helpers that any
// test may use stay (helpers_test.go: expectSteps, onlyDispatch,
// dispatchTimeout; observe_test.go: scrape, jaegerTrace, renderTrace).
//
// The gateway's version comes from its /hello; what differs between lines
// is the facts table of versions_test.go, and a test asserts what the
// running version does (saying so when it is the older behaviour).
// TYK_GATEWAY_IMAGE in the environment overrides .env's; `make e2e-matrix`
// (./matrix) runs the suite once per supported line.
//
// # How it runs
//
// The first test that needs the lab brings it up, once for the whole suite,
// from the repository's compose.yaml and .env (the compose module reads .env
// by itself, like docker compose), with:
//
//   - its own project name, lab-e2e-<random>, so that a lab started with
//     `make up` (project tyk-grpc-lab) is never touched;
//   - random host ports: TYK_GATEWAY_PORT, PLUGIN_SERVER_PORT,
//     LAB_REDIS_PORT, PLUGIN_METRICS_PORT and JAEGER_UI_PORT are set to 0 and the mapped ports read back from the
//     stack's containers;
//   - compose.e2e.yaml on top, which gives the three images built from
//     source their own tags (tyk-grpc-lab-e2e/...:dev), so that the suite
//     never retags the images a `make up` lab runs.
//
// The images built from source are built first with `docker compose build`
// (the CLI): the compose library builds only with the buildx plugin or the
// classic builder, and the classic builder cannot build
// plugin-server/Dockerfile (RUN --mount needs BuildKit). Building every run
// also means the suite always tests the working tree; an unchanged tree
// builds from cache in about a second.
//
// Readiness is compose's wait (compose.Wait(true)): api-loader's healthcheck
// passes once every API in apis/ answers. After the last test the stack is
// torn down with its volumes and orphans, keeping the images. When a test
// fails, the logs of every container since that test started are written to
// its output. Ryuk (testcontainers' reaper) is disabled unless
// TESTCONTAINERS_RYUK_DISABLED is set, since its image is usually not
// available offline; a run killed before its teardown (go test -timeout,
// SIGKILL) can leave a project behind: `make e2e` removes its own, and
// `docker compose ls -a --filter name=lab-e2e-` lists any other, to remove
// with `docker compose -p <name> down -v --remove-orphans`.
//
// # Environment
//
//	E2E_REQUIRE=1        fail instead of skipping when the suite cannot run:
//	                     no Docker, no `docker compose` CLI, or an image of
//	                     .env (TYK_GATEWAY_IMAGE, REDIS_IMAGE, GO_IMAGE,
//	                     RUNTIME_IMAGE) neither present locally nor pullable.
//	                     `make e2e` and CI set it.
//	E2E_GATEWAY_URL      external mode, e.g. http://127.0.0.1:8080: run the
//	                     same assertions against a lab already running
//	                     (`make up`), starting nothing; takes seconds. The
//	                     fault tests skip, since the suite never stops a lab
//	                     it did not start.
//	E2E_REDIS_ADDR       the lab's Redis in external mode (host:port, default
//	                     127.0.0.1:6380, i.e. LAB_REDIS_PORT).
//	E2E_PROJECT          the compose project name to use instead of
//	                     lab-e2e-<random>; it must start with "lab-e2e-"
//	                     (`make e2e` sets it so that it can always tear the
//	                     project down, even after a crash).
//
// Images follow compose.yaml's own variables, from the environment or .env,
// exactly as with `make up`. compose.yaml publishes ports on 127.0.0.1 of
// the Docker host, which is where the suite connects; set
// TESTCONTAINERS_HOST_OVERRIDE to reach them through another address.
package e2e
