#!/usr/bin/env bash
# test-device-check.sh tests scripts/device-check.sh on a machine without a
# GPU (make test runs it): a pack built without the tag gpu, and a fake
# nvidia-smi first on PATH. It checks that every phase runs and writes its
# file under $OUT, that failures are reported and do not stop the phases
# after them, that a phase that hangs is cut at its limit, and that phases
# with no time left are skipped, all within bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test-device-check: FAIL: $*" >&2; exit 1; }
expect() { # FILE PATTERN: FILE exists and holds a line matching PATTERN
	[ -f "$1" ] || fail "$1 was not written"
	grep -qE "$2" "$1" || { cat "$1" >&2; fail "$1 has no line matching '$2'"; }
}

t0=$SECONDS
PACK=$tmp/pack ./scripts/device-pack.sh --cpu >/dev/null
echo "test-device-check: packed in $((SECONDS - t0))s"
mkdir -p "$tmp/fake"
printf '#!/bin/sh\n[ -n "${NVIDIA_SMI_HANGS:-}" ] && sleep 299.5\necho "NVIDIA-SMI 580.00 Driver Version: 580.00 CUDA Version: 13.0 (fake)"\n' >"$tmp/fake/nvidia-smi"
chmod +x "$tmp/fake/nvidia-smi"
export PATH="$tmp/fake:$PATH" PACK=$tmp/pack

# Every phase runs. Without a GPU build, bench --device cuda fails, and
# PyTorch is missing here: each failure is logged and the next phase runs.
rc=0
OUT=$tmp/out ./scripts/device-check.sh >"$tmp/stdout" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$tmp/stdout" >&2; fail "exit status $rc with failing phases, want 1"; }
expect "$tmp/out/1-gpu.txt" 'CUDA Version: 13.0 \(fake\)'
expect "$tmp/out/1-gpu.txt" 'testing: warning: no tests to run'
expect "$tmp/out/2-test-nn.log" '^PASS$'
expect "$tmp/out/3-test-train.log" '^PASS$'
expect "$tmp/out/7-log.txt" 'FAILED with exit status 1 .*/bench --model mnist --device cuda --batch 128'
expect "$tmp/out/7-log.txt" 'make gpu' # bench's own message reaches the log
expect "$tmp/out/7-log.txt" 'FAILED .*torch_reference.py .*--model cifar10'
expect "$tmp/out/7-log.txt" 'start, limit 15s: python3 bench/compare.py'
expect "$tmp/out/7-log.txt" 'done, exit status 1'
n=$(find "$tmp/out" -type f | wc -l)
[ "$n" -le 8 ] || fail "$n files under \$OUT, the device tool brings back 8"

# A phase that hangs is cut at its limit, the programs it started with it,
# and the phases after it are skipped once the budget is spent.
start=$SECONDS
rc=0
NVIDIA_SMI_HANGS=1 T_INFO=12 CHECK_BUDGET=15 OUT=$tmp/out2 ./scripts/device-check.sh >"$tmp/stdout2" 2>&1 || rc=$?
took=$((SECONDS - start))
[ "$rc" = 1 ] || { cat "$tmp/stdout2" >&2; fail "exit status $rc after a hung phase, want 1"; }
expect "$tmp/out2/7-log.txt" 'TIMED OUT after [0-9]+s: bash -c info'
expect "$tmp/out2/7-log.txt" 'SKIPPED, no time left: env -C nn'
expect "$tmp/out2/7-log.txt" 'SKIPPED, no time left: python3 bench/compare.py'
! pgrep -f 'sleep 299[.]5' >/dev/null || fail "the hung phase's sleep outlived its time limit"
((took < 40)) || fail "a check with a budget of 15 s took ${took}s"
echo "test-device-check: ok (phases, failures, a hung phase cut after its limit, the budget; ${took}s for the budgeted run)"
