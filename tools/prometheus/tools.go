//go:build tools

// Package tools pins Prometheus 3 (module versions v0.3xx are Prometheus 3.x) in this module's
// go.mod, so that test/support/prometheus.ts builds cmd/prometheus and cmd/promtool from the Go
// module proxy at a fixed version instead of needing a system package. Alertmanager is pinned in
// its own module (tools/alertmanager): see there why.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/prometheus"
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
