"""Print cmd/bench's figures and bench/torch_reference.py's side by side.

    python3 bench/compare.py OURS.jsonl TORCH.json

OURS.jsonl is cmd/bench --json output (one object per line); TORCH.json is
torch_reference.py --json output (a list). Each row is one (kind, model,
batch): our images/s on the CPU and the GPU, PyTorch's eager and compiled
images/s on the same GPU, and our GPU figure over each of PyTorch's.
"""
import json
import sys


def load(ours_path, torch_path):
    with open(ours_path) as f:
        ours = [json.loads(line) for line in f if line.strip()]
    with open(torch_path) as f:
        theirs = json.load(f)
    rows = {}
    for r in ours:
        key = (r["kind"], r["model"], r["batch"])
        rows.setdefault(key, {})["ours_" + r["device"]] = r["images_per_s"]
    for r in theirs:
        key = (r["kind"], r["model"], r["batch"])
        rows.setdefault(key, {})["torch_" + r["mode"]] = r["images_per_s"]
    return rows


def cell(v):
    return f"{v:10.1f}" if v is not None else f"{'-':>10}"


def ratio(a, b):
    return f"{a / b:8.2f}x" if a is not None and b else f"{'-':>9}"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = load(sys.argv[1], sys.argv[2])
    print(f"{'kind':<7}{'model':<9}{'batch':>6}{'ours cpu':>10}{'ours gpu':>10}{'eager':>10}{'compile':>10}"
          f"{'vs eager':>9}{'vs comp.':>9}   (images/s)")
    for (kind, model, batch), r in sorted(rows.items()):
        gpu, eager, comp = r.get("ours_cuda"), r.get("torch_eager"), r.get("torch_compile")
        print(f"{kind:<7}{model:<9}{batch:>6}{cell(r.get('ours_cpu'))}{cell(gpu)}{cell(eager)}{cell(comp)}"
              f"{ratio(gpu, eager)}{ratio(gpu, comp)}")


if __name__ == "__main__":
    main()
