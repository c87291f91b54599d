#!/usr/bin/env bash
# gpu-tests.sh DIR builds the test binary of every package that has tests,
# with -tags gpu, into DIR as <package path with / as _>.test. CI builds them
# to check that they compile; a GPU machine (which has no Go) runs them.
set -euo pipefail
out=${1:?usage: gpu-tests.sh DIR}
mkdir -p "$out"
for pkg in $(go list -tags gpu -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do
	rel=${pkg#github.com/scoregen/scoregen/}
	go test -tags gpu -c -o "$out/${rel//\//_}.test" "$pkg"
done
