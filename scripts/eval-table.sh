#!/usr/bin/env bash
# eval-table.sh trains every shipped experiment that trains on the CPU
# (the tiny score network as VP, VE and sub-VP, the VAE, DCGAN and
# WGAN-GP on MNIST), scores each with cmd/eval against the MNIST judge,
# and prints the README's table in Markdown. A run already trained to its
# train.steps is not trained again, and one cut short resumes, so the
# script can be rerun after a stop; training times add up over resumes.
#
#   scripts/eval-table.sh [DIR]     # runs under DIR (default runs/table); hours on 2 cores
#   QUICK=1 scripts/eval-table.sh /tmp/t   # 20 steps each, 200 samples: checks the pipeline
#
# EVAL_N sets the samples per model (default 1000; the FD floor is given
# at the same N). The judge is runs/mnist_classifier, trained first if
# missing (make eval-nets trains it too).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-runs/table}
n=${EVAL_N:-1000}
quick=()
sample_steps=()
if [ "${QUICK:-0}" = 1 ]; then
	n=${EVAL_N:-200}
	quick=(--set train.steps=20 --set train.ckpt_every=20 --set train.sample_every=0 --set train.log_every=10)
	sample_steps=(--steps 5)
fi
mkdir -p "$out/bin"
go build -o "$out/bin/" ./cmd/train ./cmd/eval
judge=runs/mnist_classifier
if [ ! -f "$judge/eval.json" ]; then
	"$out/bin/train" --config configs/mnist_classifier.yaml
fi

# name, config, overrides
experiments=(
	"tiny-vp|configs/mnist_tiny.yaml|"
	"tiny-ve|configs/mnist_tiny.yaml|--set sde.type=ve"
	"tiny-subvp|configs/mnist_tiny.yaml|--set sde.type=subvp"
	"vae|configs/mnist_vae.yaml|"
	"dcgan|configs/mnist_dcgan.yaml|"
	"wgangp|configs/mnist_wgangp.yaml|"
)
for e in "${experiments[@]}"; do
	IFS='|' read -r name config sets <<<"$e"
	dir=$out/$name
	mkdir -p "$dir"
	# shellcheck disable=SC2086 # $sets is a list of flags
	args=(--config "$config" $sets "${quick[@]}" --set "train.out_dir=$dir")
	if [ ! -f "$dir/trained" ]; then
		start=$(date +%s)
		"$out/bin/train" "${args[@]}" --resume
		echo $(($(cat "$dir/train_seconds" 2>/dev/null || echo 0) + $(date +%s) - start)) >"$dir/train_seconds"
		touch "$dir/trained"
	fi
	if [ ! -f "$dir/quality.json" ]; then
		"$out/bin/eval" --ckpt "$dir" --n "$n" "${sample_steps[@]}" --npy "$dir/eval_samples.npy" --judge "$judge" --json >"$dir/quality.json.tmp"
		mv "$dir/quality.json.tmp" "$dir/quality.json"
	fi
	if [ "$name" = vae ] && [ ! -f "$dir/bpd.json" ]; then
		limit=()
		[ "${QUICK:-0}" = 1 ] && limit=(--limit 100)
		"$out/bin/eval" --ckpt "$dir" --bpd "${limit[@]}" --json >"$dir/bpd.json.tmp"
		mv "$dir/bpd.json.tmp" "$dir/bpd.json"
	fi
done

python3 - "$out" "$n" "${experiments[@]}" <<'EOF'
import json, os, sys
out, n, experiments = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"| experiment | cmd/train wall time (a VAE's includes its test bounds) | FD (floor), N = {n} | KID | confident | class entropy | precision | recall | test bits/dim |")
print("|---|---|---|---|---|---|---|---|---|")
for e in experiments:
    name, config, sets = e.split("|")
    d = os.path.join(out, name)
    secs = int(open(os.path.join(d, "train_seconds")).read())
    r = json.load(open(os.path.join(d, "quality.json")))
    bpd = "-"
    if os.path.exists(os.path.join(d, "bpd.json")):
        b = json.load(open(os.path.join(d, "bpd.json")))
        bpd = f"{b['bits_per_dim']:.4f} ± {b['bits_per_dim_se']:.4f} (ELBO)"
    what = f"`{os.path.basename(config)}` {sets}".strip()
    print(f"| {name}: {what} | {secs // 60} min {secs % 60} s | {r['fd']:.1f} ({r['fd_floor']:.1f}) | "
          f"{r['kid']:.3g} ± {r['kid_se']:.2g} | {100 * r['confident']:.1f}% | {r['class_entropy']:.2f} | "
          f"{r['precision']:.2f} | {r['recall']:.2f} | {bpd} |")
EOF
