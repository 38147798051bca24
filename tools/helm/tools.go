//go:build tools

// Package tools pins helm.sh/helm/v3 in this module's go.mod, so that
// `go build helm.sh/helm/v3/cmd/helm` (run by test/support/helm.ts and .ci/run) builds the
// chart tests' helm from the Go module proxy at a fixed version.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
