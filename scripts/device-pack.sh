#!/usr/bin/env bash
# device-pack.sh builds, on a machine with Go and the CUDA toolkit, what a
# GPU machine without Go needs to check and time the CUDA backend, into
# .device/ (git-ignored; small enough to carry): the -tags gpu bench
# binary and the test binaries of the packages with GPU tests, gzipped.
# scripts/device-run.sh runs them there.
set -euo pipefail
cd "$(dirname "$0")/.."
make kernels
rm -rf .device && mkdir -p .device
flags=(-tags gpu -ldflags="-s -w")
go build "${flags[@]}" -o .device/bench ./cmd/bench
for pkg in nn train; do
	go test "${flags[@]}" -c -o ".device/$pkg.test" "./$pkg"
done
gzip -9 .device/*
du -sh .device
