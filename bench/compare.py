"""Print cmd/bench's figures and bench/torch_reference.py's side by side.

    python3 bench/compare.py OURS.jsonl TORCH.json [TORCH.json ...]

OURS.jsonl is cmd/bench --json output (one object per line, any number of
runs); each TORCH.json is torch_reference.py --json output (a list). Each
row is one (kind, model, batch, device): our images/s, PyTorch's eager and
compiled images/s on the same device, and ours over each of PyTorch's. GPU
rows pair our cuda records with PyTorch's on the GPU; CPU rows pair ours on
the CPU with PyTorch's --device cpu records (run on the same machine). Where
a file holds several records of one row (repeated runs), the row shows the
median of their images/s and how many there were.
"""
import json
import statistics
import sys


def device_of(r):
    """"cpu" or "cuda". Records of torch_reference.py before it had --device
    named the GPU itself ("NVIDIA H200") in device."""
    return "cpu" if r.get("device", "cpu") == "cpu" else "cuda"


def load(ours_path, torch_paths):
    with open(ours_path) as f:
        ours = [json.loads(line) for line in f if line.strip()]
    theirs = []
    for path in torch_paths:
        with open(path) as f:
            theirs += json.load(f)
    rows = {}
    for r in ours:
        key = (r["kind"], r["model"], r["batch"], device_of(r))
        rows.setdefault(key, {}).setdefault("ours", []).append(r["images_per_s"])
    for r in theirs:
        key = (r["kind"], r["model"], r["batch"], device_of(r))
        rows.setdefault(key, {}).setdefault("torch_" + r["mode"], []).append(r["images_per_s"])
    return rows


def median(vs):
    return statistics.median(vs) if vs else None


def cell(vs):
    if not vs:
        return f"{'-':>12}"
    s = f"{median(vs):.1f}" + (f" ({len(vs)})" if len(vs) > 1 else "")
    return f"{s:>12}"


def ratio(a, b):
    return f"{a / b:9.2f}x" if a is not None and b else f"{'-':>10}"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    rows = load(sys.argv[1], sys.argv[2:])
    print(f"{'kind':<7}{'model':<9}{'batch':>6}  {'device':<7}{'ours':>12}{'eager':>12}{'compile':>12}"
          f"{'vs eager':>10}{'vs comp.':>10}   (images/s)")
    # GPU rows first, as before this table had CPU rows.
    for (kind, model, batch, dev), r in sorted(rows.items(), key=lambda kv: (kv[0][3] == "cpu", kv[0])):
        ours, eager, comp = r.get("ours"), r.get("torch_eager"), r.get("torch_compile")
        print(f"{kind:<7}{model:<9}{batch:>6}  {dev:<7}{cell(ours)}{cell(eager)}{cell(comp)}"
              f"{ratio(median(ours), median(eager))}{ratio(median(ours), median(comp))}")


if __name__ == "__main__":
    main()
