#!/usr/bin/env bash
# device-check.sh is the one command a GPU machine runs to check and time
# the CUDA backend. That machine has no Go and no network: build the pack
# here first (scripts/device-pack.sh, into .device/), carry it, and run
#
#   timeout 500 scripts/device-check.sh
#
# from the repository root there. Each phase runs under a time limit of its
# own, cut to what is left of CHECK_BUDGET seconds (420), so that a phase
# that fails or hangs costs only itself, and each writes its result to $OUT
# (or out/) as soon as it has it, most important first:
#
#   1-gpu.txt          nvidia-smi (driver and CUDA versions), PyTorch's
#                      CUDA, the cuBLAS files there, and the GPU, cuBLAS
#                      and one GEMM as our code finds them
#   2-test-nn.log      every op on the GPU against the CPU
#   3-test-train.log   the training step, resume, non-finite steps and the
#                      samplers on the GPU against the CPU
#   4-ours.jsonl       our training step on the GPU: mnist b128 and b32,
#                      cifar10 b128 (cmd/bench, 20 timed steps)
#   5-torch.json       PyTorch eager on the same networks and batches
#   6-table.txt        both side by side (bench/compare.py)
#   7-log.txt          each phase's limit, time and exit status, and the
#                      programs' standard error
#
# Then, while time is left: EM sampling of mnist at batch 1024 (200 steps),
# cifar10 at b32, and the VAE, DCGAN and WGAN-GP steps at b64, ours and
# PyTorch's, added to 4, 5 and 6. No CPU
# figures: those come from the build machine. It exits 1 if any phase
# failed, timed out or was skipped.
#
# PACK names another pack folder; T_INFO, T_TEST, T_BENCH and T_TORCH
# override the phases' limits (scripts/test-device-check.sh uses them).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
pack=$(realpath "${PACK:-.device}")
budget=${CHECK_BUDGET:-420}
t_info=${T_INFO:-60} t_test=${T_TEST:-120} t_bench=${T_BENCH:-90} t_torch=${T_TORCH:-120}
mkdir -p "$out"
log=$out/7-log.txt
: >"$log"
status=0

note() { echo "[device-check $(date -u +%T), ${SECONDS}s] $*" | tee -a "$log" >&2; }

# run LIMIT STDOUT STDERR CMD...: CMD under a limit of LIMIT seconds or what
# is left of the budget, its output appended to the two files.
run() {
	local limit=$1 stdout=$2 stderr=$3 left=$((budget - SECONDS)) t0=$SECONDS rc
	shift 3
	((left < limit)) && limit=$left
	if ((limit < 5)); then
		note "SKIPPED, no time left: $*"
		status=1
		return 1
	fi
	note "start, limit ${limit}s: $*"
	timeout -k 5 "$limit" "$@" >>"$stdout" 2>>"$stderr"
	rc=$?
	case $rc in
	0) note "ok in $((SECONDS - t0))s" ;;
	124 | 137) note "TIMED OUT after $((SECONDS - t0))s: $*" ;;
	*) note "FAILED with exit status $rc after $((SECONDS - t0))s: $*" ;;
	esac
	((rc == 0)) || status=1
	return $rc
}

# Unpack the binaries and the libraries they need.
mkdir -p "$pack/bin" "$pack/lib"
for f in "$pack"/*.gz; do
	[ -e "$f" ] || { note "no pack in $pack: run scripts/device-pack.sh on a machine with Go first"; exit 2; }
	name=$(basename "$f" .gz)
	case $name in
	lib-*) dst=$pack/lib/${name#lib-} ;;
	*) dst=$pack/bin/$name ;;
	esac
	gunzip -c "$f" >"$dst" 2>>"$log" && chmod +x "$dst" || { note "unpacking $f failed (see above)"; exit 2; }
done
export LD_LIBRARY_PATH="$pack/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1
bin=$pack/bin

# 1. The machine, and what our code finds on it. cuBLAS is found by the Go
# code itself (gpu/libpath.go), which logs the file and version it opened.
info() {
	local rc=0
	echo "== nvidia-smi"
	nvidia-smi || rc=1
	nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm --format=csv || rc=1
	echo "== nvcc"
	nvcc --version || rc=1
	echo "== PyTorch"
	python3 -c 'import torch; print("torch", torch.__version__, "built for CUDA", torch.version.cuda, "sees", torch.cuda.device_count(), "GPU(s)")' || rc=1
	echo "== cuBLAS files"
	timeout 15 find /usr /opt -name 'libcublas*.so.*' || rc=1
	echo "== our code: the GPU, cuBLAS and one GEMM"
	env -C gpu "$bin/gpu.test" -test.v -test.run 'TestDeviceAndGemm' -test.timeout 40s || rc=1
	return $rc
}
export -f info
export bin
run "$t_info" "$out/1-gpu.txt" "$out/1-gpu.txt" bash -c info

# 2. The GPU tests, each binary under its own limit.
# Go's own timeout fires first, so that a hung test is named in the log.
for t in 2-test-nn:nn:OpsMatchCPU 2-test-gpu:gpu:GPUPerturb 3-test-train:train:GPU 3-test-train:score:GPU; do
	IFS=: read -r file pkg pattern <<<"$t"
	limit=$((budget - SECONDS < t_test ? budget - SECONDS : t_test))
	run "$limit" "$out/$file.log" "$out/$file.log" \
		env -C "$pkg" "$bin/$pkg.test" -test.v -test.run "$pattern" -test.timeout "$((limit > 15 ? limit - 10 : limit))s"
done

# 3-6. Ours and PyTorch's, then the table. torch_json merges PyTorch's
# records (one file per run) into 5-torch.json.
scratch=$(mktemp -d)
ours() { # MODEL BATCH [bench flags...]
	local model=$1 batch=$2
	shift 2
	run "$t_bench" "$out/4-ours.jsonl" "$log" "$bin/bench" --model "$model" --device cuda --batch "$batch" --steps 20 --json "$@"
}
theirs() { # NAME torch_reference.py flags...
	local name=$1
	shift
	run "$t_torch" "$log" "$log" python3 bench/torch_reference.py --mode eager --steps 20 --warmup 5 --json "$scratch/$name.json" "$@"
	local runs=("$scratch"/*.json)
	[ -e "${runs[0]}" ] || return 0 # no record yet
	python3 -c 'import json, sys; json.dump([r for f in sys.argv[2:] for r in json.load(open(f))], open(sys.argv[1], "w"), indent=2)' \
		"$out/5-torch.json" "${runs[@]}" 2>>"$log"
}
table() {
	rm -f "$out/6-table.txt"
	run 15 "$out/6-table.txt" "$log" python3 bench/compare.py "$out/4-ours.jsonl" "$out/5-torch.json"
}
ours mnist 128
ours mnist 32
ours cifar10 128
theirs mnist --model mnist --batch 128 --batch 32 --sample-steps 0
theirs cifar10 --model cifar10 --batch 128 --sample-steps 0
table

# Only while time is left: sampling (one EM run of 200 steps at batch 1024,
# after a short one) and cifar10 at batch 32.
if ((budget - SECONDS > 90)); then
	# bench times a training step too (batch 2, one step): keep the sampling line only.
	sample() { set -o pipefail; "$bin/bench" --model mnist --device cuda --batch 2 --steps 1 --sample-steps 200 --sample-batch 1024 --json | grep '"sample"'; }
	export -f sample
	run "$t_bench" "$out/4-ours.jsonl" "$log" bash -c sample
	theirs sample --model mnist --no-train --sample-steps 200 --sample-batch 1024
fi
if ((budget - SECONDS > 60)); then
	ours cifar10 32
	theirs cifar10-32 --model cifar10 --batch 32 --sample-steps 0
fi
# The VAE and GAN families' full training steps (a WGAN-GP step is 5
# critic updates and a generator update), ours and PyTorch's.
if ((budget - SECONDS > 60)); then
	for m in vae dcgan wgangp; do ours "$m" 64; done
	theirs families --model vae --model dcgan --model wgangp --batch 64
fi
table
rm -rf "$scratch"

echo "== test results"
grep -hE '^(--- (PASS|FAIL)|PASS$|FAIL$)' "$out"/2-test-nn.log "$out"/3-test-train.log
echo "== table"
cat "$out/6-table.txt"
note "done, exit status $status"
exit $status
