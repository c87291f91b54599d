#!/usr/bin/env bash
# eval-table.sh trains every shipped experiment that trains on the CPU
# (the tiny score network as VP, VE and sub-VP, the same network trained
# by flow matching, the VAE, DCGAN and WGAN-GP on MNIST), scores each
# with cmd/eval against the MNIST judge, and prints the README's table in
# Markdown.
#
#   scripts/eval-table.sh [DIR]     # runs under DIR (default runs/table); hours on 2 cores
#   QUICK=1 scripts/eval-table.sh /tmp/t   # 20 steps each, 200 samples: checks the pipeline
#
# Each experiment's figures go to RESULTS/NAME.json (default
# docs/eval-table, kept in the repository; under DIR with QUICK=1) with
# the commit and the machine, and an experiment that has its file is not
# run again: the whole table is more hours than one sitting, so it can be
# filled over several, on fresh machines. A run already trained to its
# train.steps is not trained again, and one cut short resumes; training
# times add up over resumes.
#
# ROWS=vae,dcgan runs only those experiments (the table still prints
# every row that has its results).
#
# EVAL_N sets the samples per model (default 1000; the FD floor is given
# at the same N). BPD_LIMIT is the test images of a score network's
# bits/dim (default 1000: the probability-flow ODE takes about half a
# second per image of the tiny network on 2 cores); a VAE's bounds use
# the whole test set. The judge is runs/mnist_classifier, trained first
# if missing (make eval-nets trains it too).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-runs/table}
n=${EVAL_N:-1000}
bpd_limit=${BPD_LIMIT:-1000}
results=${RESULTS:-docs/eval-table}
quick=()
sample_steps=()
if [ "${QUICK:-0}" = 1 ]; then
	n=${EVAL_N:-200}
	bpd_limit=${BPD_LIMIT:-20}
	results=${RESULTS:-$out/results}
	quick=(--set train.steps=20 --set train.ckpt_every=20 --set train.sample_every=0 --set train.log_every=10)
	sample_steps=(--steps 5)
fi
mkdir -p "$out/bin" "$results"
go build -o "$out/bin/" ./cmd/train ./cmd/eval
judge=runs/mnist_classifier
if [ ! -f "$judge/eval.json" ]; then
	"$out/bin/train" --config configs/mnist_classifier.yaml
fi

# name, config, overrides, likelihood (ode: the score network's bits/dim
# on BPD_LIMIT test images; elbo: the VAE's bounds on all of them)
experiments=(
	"tiny-vp|configs/mnist_tiny.yaml||ode"
	"tiny-ve|configs/mnist_tiny.yaml|--set sde.type=ve|ode"
	"tiny-subvp|configs/mnist_tiny.yaml|--set sde.type=subvp|ode"
	"tiny-flow|configs/mnist_tiny.yaml|--set model.objective=flow --set sample.sampler=heun --set sample.steps=50|"
	"vae|configs/mnist_vae.yaml||elbo"
	"dcgan|configs/mnist_dcgan.yaml||"
	"wgangp|configs/mnist_wgangp.yaml||"
)
for e in "${experiments[@]}"; do
	IFS='|' read -r name config sets likelihood <<<"$e"
	[ -f "$results/$name.json" ] && continue
	[ -n "${ROWS:-}" ] && [[ ",$ROWS," != *",$name,"* ]] && continue
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
	if [ -n "$likelihood" ] && [ ! -f "$dir/bpd.json" ]; then
		limit=()
		if [ "$likelihood" = ode ]; then
			limit=(--limit "$bpd_limit")
		elif [ "${QUICK:-0}" = 1 ]; then
			limit=(--limit 100)
		fi
		"$out/bin/eval" --ckpt "$dir" --bpd "${limit[@]}" --json >"$dir/bpd.json.tmp"
		mv "$dir/bpd.json.tmp" "$dir/bpd.json"
	fi
	python3 - "$dir" "$likelihood" "$results/$name.json" "$(git rev-parse --short HEAD)" <<'EOF'
import json, os, platform, sys, time
d, likelihood, path = sys.argv[1], sys.argv[2], sys.argv[3]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
r = {"commit": sys.argv[4], "date": time.strftime("%Y-%m-%d"), "cpu": f"{cpu}, {os.cpu_count()} cores",
     "train_seconds": int(open(os.path.join(d, "train_seconds")).read()),
     "quality": json.load(open(os.path.join(d, "quality.json"))), "likelihood": likelihood}
if likelihood:
    r["bpd"] = json.load(open(os.path.join(d, "bpd.json")))
with open(path + ".tmp", "w") as f:
    json.dump(r, f, indent=2)
os.replace(path + ".tmp", path)
EOF
done

python3 - "$results" "$n" "${experiments[@]}" <<'EOF'
import json, os, sys
results, n, experiments = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"| experiment | cmd/train wall time (a VAE's includes its test bounds) | FD (floor), N = {n} | KID | confident | class entropy | precision | recall | test bits/dim |")
print("|---|---|---|---|---|---|---|---|---|")
for e in experiments:
    name, config, sets, likelihood = e.split("|")
    what = f"`{os.path.basename(config)}` {sets}".strip()
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        print(f"| {name}: {what} | not run yet | | | | | | | |")
        continue
    x = json.load(open(path))
    secs, r = x["train_seconds"], x["quality"]
    bpd = "-"
    if likelihood:
        b = x["bpd"]
        how = {"ode": f"ODE, first {int(b['images'])} images", "elbo": "ELBO"}[likelihood]
        bpd = f"{b['bits_per_dim']:.4f} ± {b['bits_per_dim_se']:.4f} ({how})"
    print(f"| {name}: {what} | {secs // 60} min {secs % 60} s | {r['fd']:.1f} ({r['fd_floor']:.1f}) | "
          f"{r['kid']:.3g} ± {r['kid_se']:.2g} | {100 * r['confident']:.1f}% | {r['class_entropy']:.2f} | "
          f"{r['precision']:.2f} | {r['recall']:.2f} | {bpd} |")
EOF
