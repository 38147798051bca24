#!/usr/bin/env bash
# Regenerates go.mod for a Kubernetes version: k8s.io/kubernetes requires its staging modules at
# v0.0.0 and replaces them with ./staging paths, so every such line becomes a replace to the
# published v0.X.Y. Usage: ./update-k8s.sh 1.36.3
set -euo pipefail
cd "$(dirname "$0")"
ver=${1:?usage: $0 KUBERNETES_VERSION (e.g. 1.36.3)}
staging="v0.${ver#1.}"
modfile=$(go mod download -json "k8s.io/kubernetes@v$ver" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
{
  echo "module flagwright.dev/test/cluster"
  echo
  echo "go 1.26.0"
  echo
  echo "require k8s.io/kubernetes v$ver"
  echo
  echo "replace ("
  sed -n 's#^\s*\(k8s.io/[^ ]*\) => ./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$modfile"
  echo ")"
} > go.mod
go mod tidy
# kubectl comes from the same module set; recording it as a tool keeps its dependencies in go.sum.
go get -tool "k8s.io/kubernetes/cmd/kubectl@v$ver"
