#!/usr/bin/env bash
# device-pack.sh builds, on a machine with Go and the CUDA toolkit, what a
# GPU machine without Go needs to check and time the CUDA backend, into
# .device/ (git-ignored; small enough to carry): the -tags gpu bench
# binary and the test binaries of the packages with GPU tests, and the
# shared libraries they need that a CUDA image may lack (OpenBLAS and its
# Fortran runtime; never libcuda, which must be the machine's own), all
# gzipped. scripts/device-run.sh runs them there.
set -euo pipefail
cd "$(dirname "$0")/.."
make kernels
rm -rf .device && mkdir -p .device
flags=(-tags gpu -ldflags="-s -w")
go build "${flags[@]}" -o .device/bench ./cmd/bench
for pkg in nn train; do
	go test "${flags[@]}" -c -o ".device/$pkg.test" "./$pkg"
done
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0; do
	cp "$(readlink -f "$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')")" ".device/lib-$lib"
done
gzip -9 .device/*
du -sh .device
