#!/usr/bin/env bash
# device-run.sh PHASE runs on the GPU machine, from the repository root, what
# scripts/device-pack.sh built, writing logs under $OUT (or out/):
#   tests  the -tags gpu tests of nn and train (GPU against CPU)
#   bench  cmd/bench on the CPU and GPU: mnist and cifar10 at batch 32 and
#          128, and EM sampling of mnist (1000 steps, batch 1024)
#   torch  bench/torch_reference.py on the same GPU, then the side-by-side
#          table of both (bench/compare.py)
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out}
mkdir -p "$out" .device/bin .device/lib
for f in .device/*.gz; do
	name=$(basename "$f" .gz)
	case $name in
	lib-*) gunzip -c "$f" > ".device/lib/${name#lib-}" ;;
	*) gunzip -c "$f" > ".device/bin/$name" ;;
	esac
done
chmod +x .device/bin/*
export LD_LIBRARY_PATH="$PWD/.device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# cuBLAS: the CUDA toolkit's if the loader or /usr/local/cuda has it, else
# the one that PyTorch's pip packages bring.
if ! ls /usr/local/cuda/lib64/libcublas.so.* >/dev/null 2>&1 && ! ldconfig -p | grep -q 'libcublas\.so\.'; then
	dir=$(python3 -c 'import nvidia.cublas as m; print(list(m.__path__)[0] + "/lib")' 2>/dev/null) &&
		export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$dir"
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
case ${1:?usage: device-run.sh tests|bench|torch} in
tests)
	status=0
	for t in nn train; do
		(cd "$t" && ../.device/bin/$t.test -test.v -test.run 'GPU|OpsMatchCPU' -test.timeout 9m) 2>&1 | tee "$out/test-$t.log" || status=1
	done
	exit $status
	;;
bench)
	for model in mnist cifar10; do
		for batch in 32 128; do
			steps=20; [ "$model/$batch" = cifar10/128 ] && steps=10
			.device/bin/bench --model $model --device cpu,cuda --batch $batch --steps $steps --json
		done
	done | tee "$out/ours.jsonl"
	.device/bin/bench --model mnist --device cuda --batch 128 --steps 3 --sample-steps 1000 --sample-batch 1024 --json |
		grep '"sample"' | tee -a "$out/ours.jsonl"
	;;
torch)
	PYTHONUNBUFFERED=1 python3 bench/torch_reference.py --model mnist --model cifar10 --batch 32 --batch 128 \
		--json "$out/torch.json" 2>&1 | tee "$out/torch.log"
	[ -f "$out/ours.jsonl" ] && python3 bench/compare.py "$out/ours.jsonl" "$out/torch.json" | tee "$out/table.txt"
	;;
esac
