#!/usr/bin/env bash
# device-pack.sh builds, on a machine with Go and the CUDA toolkit, what a
# GPU machine without Go needs for scripts/device-check.sh, into .device/
# (git-ignored; small enough to carry): the -tags gpu bench binary and the
# test binaries of the packages with GPU tests, and the shared libraries
# they need that a CUDA image may lack (OpenBLAS and its Fortran runtime,
# oneDNN; never libcuda or cuBLAS, which must be the machine's own), all
# gzipped.
#
#   scripts/device-pack.sh          # for the GPU machine
#   PACK=DIR scripts/device-pack.sh --cpu
#
# --cpu builds without the tag gpu, for testing device-check.sh's phases
# on a machine without a GPU (scripts/test-device-check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
pack=${PACK:-.device}
tags=(-tags gpu)
if [ "${1:-}" = --cpu ]; then
	tags=()
else
	make kernels
fi
rm -rf "$pack" && mkdir -p "$pack"
flags=("${tags[@]}" -ldflags="-s -w")
go build "${flags[@]}" -o "$pack/bench" ./cmd/bench
for pkg in gpu nn train score; do
	go test "${flags[@]}" -c -o "$pack/$pkg.test" "./$pkg"
done
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0 libdnnl.so.2; do
	# awk reads to the end: exiting at the first match could kill ldconfig
	# with SIGPIPE, which pipefail turns into a failure.
	path=$(ldconfig -p | awk -v l="$lib" '$1 == l && p == "" { p = $NF } END { print p }')
	[ -n "$path" ] || { echo "device-pack: $lib is not installed (make setup)" >&2; exit 1; }
	cp "$(readlink -f "$path")" "$pack/lib-$lib"
done
gzip -9 "$pack"/*
du -sh "$pack"
