//go:build tools

// Package tools pins Alertmanager in this module's go.mod, so that test/support/prometheus.ts
// builds cmd/alertmanager from the Go module proxy at a fixed version. It is its own module, apart
// from tools/prometheus, because Prometheus 3 requires Alertmanager v0.34+ and Alertmanager v0.32
// onwards embeds a web UI (ui/app/dist) that is built by npm and absent from the module zip, so it
// does not build from the Go module proxy; v0.31 still carries its UI as generated Go (asset/).
package tools

import _ "github.com/prometheus/alertmanager/cmd/alertmanager"
