"""PyTorch reference timing of the reference U-Net (shared/REFERENCE_UNET.md).

This is our own PyTorch implementation of the same network, training step and
sampler as the Go code (unet/, train/, sde/), timed on CUDA in FP32 so that
our figures have a peer to stand beside. scripts/device-check.sh runs
cmd/bench on the GPU and this script (eager) with --json, and prints the two
sets of figures side by side (bench/compare.py).

What it times, for each model, batch size and mode (eager, torch.compile):

- train: one training step as train.Trainer.TrainStep takes it on data
  already in memory: VP noising (t ~ U(1e-5, 1), z ~ N(0, I)), forward,
  the loss of train.Loss (the squared error between predicted and true noise,
  summed over pixels and averaged over the batch), backward, clipping to
  global norm 1, Adam (lr 2e-4, without the learning-rate warm-up, which
  costs nothing) and the EMA of the weights (0.9999, with nn.EMA's smaller
  decay over the first steps). torch.compile (static shapes, default mode)
  compiles the noising, forward and loss; AOTAutograd compiles its backward.
- sample (mnist only): Euler-Maruyama on the reverse VP SDE as
  sde.EulerMaruyama, in eval mode under torch.no_grad(), one full run of
  --sample-steps steps from the prior at --sample-batch images. Its
  images_per_s is sample_batch / (sample_steps * median_step_s).

Each figure is the median over --steps timed training steps (for sampling,
over the steps of one whole run) after --warmup warm-up steps, measured with
CUDA events; compilation (the first call) is timed separately and left out.
Peak memory is torch.cuda.max_memory_allocated over the whole record.
Matrix products and convolutions run in true FP32 unless --tf32 is given;
cuDNN picks its algorithms by timing them. PyTorch 1.x (Debian's
python3-torch) has no torch.compile and runs eager mode only.

    python3 bench/torch_reference.py --model mnist --batch 32 --json out.json
    python3 bench/torch_reference.py --cpu-smoke     # shapes and syntax only

Each JSON record has the keys impl ("pytorch"), mode, kind ("train" or
"sample"), model, device, batch, steps, median_step_s, images_per_s,
peak_gpu_mib (null on the CPU), params, compile_s (null in eager mode), tf32,
and for sampling sample_steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

SEED = 0
TRAIN_EPS = 1e-5  # smallest t in training (sde.eps)
SAMPLE_EPS = 1e-3  # last t of the VP sampler (sample.eps for VP)
LR, GRAD_CLIP, EMA_DECAY = 2e-4, 1.0, 0.9999
ZERO_SCALE = 1e-10  # DDPM++'s initial scale of each block's last convolution


@dataclasses.dataclass(frozen=True)
class Config:
    """One network of the reference family (unet.Config)."""

    name: str
    channels: int  # C_in of the images
    height: int
    width: int
    ch: int  # base width
    mult: tuple[int, ...]  # channel multiplier per level
    num_res_blocks: int  # ResBlocks per level on the way down
    attn_res: tuple[int, ...]  # resolutions (height) with attention
    dropout: float
    params: int  # the parameter count REFERENCE_UNET.md states


CONFIGS = {
    "mnist": Config("mnist", 1, 28, 28, 64, (1, 2, 2), 2, (7,), 0.1, 6_469_889),
    "cifar10": Config("cifar10", 3, 32, 32, 128, (1, 2, 2, 2), 4, (16,), 0.1, 58_687_747),
}


# The network.


def group_norm(c: int) -> nn.GroupNorm:
    """GroupNorm with min(32, C/4) groups and eps 1e-6."""
    return nn.GroupNorm(min(32, c // 4), c, eps=1e-6)


def conv(cin: int, cout: int, kernel: int, stride: int = 1, scale: float = 1.0) -> nn.Conv2d:
    """A convolution with bias and PyTorch's default initialisation times scale."""
    c = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
    with torch.no_grad():
        c.weight.mul_(scale)
        c.bias.mul_(scale)
    return c


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """[sin, cos] of 1000 t times exp(-ln(10000) k / (dim/2 - 1)), k < dim/2."""
    half = dim // 2
    k = torch.arange(half, device=t.device, dtype=torch.float32)
    arg = 1000 * t[:, None] * torch.exp(-math.log(10000) * k / (half - 1))
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


class ResBlock(nn.Module):
    """GN-SiLU-Conv, plus the time embedding, GN-SiLU-Dropout-Conv, added to
    the (projected) input and scaled by 1/sqrt(2)."""

    def __init__(self, cin: int, cout: int, temb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = group_norm(cin)
        self.conv1 = conv(cin, cout, 3)
        self.temb = nn.Linear(temb_dim, cout)
        self.norm2 = group_norm(cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = conv(cout, cout, 3, scale=ZERO_SCALE)
        self.skip = conv(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (self.skip(x) + h) / math.sqrt(2)


class Attention(nn.Module):
    """Single-head self-attention over the H*W positions."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = group_norm(c)
        self.q, self.k, self.v = conv(c, c, 1), conv(c, c, 1), conv(c, c, 1)
        self.out = conv(c, c, 1, scale=ZERO_SCALE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        h = self.norm(x)
        q, k, v = (f(h).reshape(b, c, height * width) for f in (self.q, self.k, self.v))
        w = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), dim=2)  # [B, query, key]
        h = torch.bmm(v, w.transpose(1, 2))  # [B, C, query]
        return (x + self.out(h.reshape(b, c, height, width))) / math.sqrt(2)


class ResAttn(nn.Module):
    """A ResBlock, then attention where the resolution has it."""

    def __init__(self, cin: int, cout: int, temb_dim: int, dropout: float, attn: bool):
        super().__init__()
        self.res = ResBlock(cin, cout, temb_dim, dropout)
        self.attn = Attention(cout) if attn else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        return self.attn(self.res(x, temb))


class Upsample(nn.Module):
    """Nearest-neighbour 2x upsampling, then a 3x3 convolution."""

    def __init__(self, c: int):
        super().__init__()
        self.conv = conv(c, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNet(nn.Module):
    """The reference U-Net: eps_hat(x, t), the predicted noise."""

    def __init__(self, cfg: Config):
        super().__init__()
        ch, temb_dim = cfg.ch, 4 * cfg.ch
        self.ch = ch
        self.temb = nn.Sequential(nn.Linear(ch, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim), nn.SiLU())
        self.conv_in = conv(cfg.channels, ch, 3)

        def block(cin: int, cout: int, res: int) -> ResAttn:
            return ResAttn(cin, cout, temb_dim, cfg.dropout, res in cfg.attn_res)

        # Down: every layer's output is kept for the up path.
        self.down = nn.ModuleList()
        skips, c, res = [ch], ch, cfg.height
        for i, m in enumerate(cfg.mult):
            for _ in range(cfg.num_res_blocks):
                self.down.append(block(c, ch * m, res))
                c = ch * m
                skips.append(c)
            if i != len(cfg.mult) - 1:
                self.down.append(conv(c, c, 3, stride=2))
                skips.append(c)
                res //= 2
        self.mid1 = ResBlock(c, c, temb_dim, cfg.dropout)
        self.mid_attn = Attention(c)
        self.mid2 = ResBlock(c, c, temb_dim, cfg.dropout)
        # Up: each ResAttn takes one kept output, concatenated to its input.
        self.up = nn.ModuleList()
        for i in reversed(range(len(cfg.mult))):
            for _ in range(cfg.num_res_blocks + 1):
                self.up.append(block(c + skips.pop(), ch * cfg.mult[i], res))
                c = ch * cfg.mult[i]
            if i != 0:
                self.up.append(Upsample(c))
                res *= 2
        self.norm_out = group_norm(c)
        self.conv_out = conv(c, cfg.channels, 3, scale=ZERO_SCALE)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.temb(timestep_embedding(t, self.ch))  # SiLU(temb)
        h = self.conv_in(x)
        hs = [h]
        for layer in self.down:
            h = layer(h, temb) if isinstance(layer, ResAttn) else layer(h)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, temb)), temb)
        for layer in self.up:
            h = layer(torch.cat([h, hs.pop()], dim=1), temb) if isinstance(layer, ResAttn) else layer(h)
        return self.conv_out(F.silu(self.norm_out(h)))


def build_model(cfg: Config, device: torch.device) -> UNet:
    """The network for cfg; exits if its size is not the spec's."""
    model = UNet(cfg).to(device)
    n = sum(p.numel() for p in model.parameters())
    if n != cfg.params:
        sys.exit(f"torch_reference: the {cfg.name} U-Net has {n:,} parameters, "
                 f"REFERENCE_UNET.md says {cfg.params:,}: the network is not the reference one")
    return model


# The SDE, the loss, the optimiser and the sampler.


class VPSDE:
    """The VP SDE (sde.VP): beta(t) = beta_min + t (beta_max - beta_min)."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        self.beta_min, self.beta_max = beta_min, beta_max

    def beta(self, t: torch.Tensor) -> torch.Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_mean_coeff(self, t: torch.Tensor) -> torch.Tensor:
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def mean(self, t: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_mean_coeff(t))

    def std(self, t: torch.Tensor) -> torch.Tensor:
        return torch.sqrt(-torch.expm1(2 * self.log_mean_coeff(t)))


def dsm_loss(model: UNet, sde: VPSDE, x0: torch.Tensor) -> torch.Tensor:
    """Noising (sde.Perturb) and the denoising loss (train.Loss)."""
    t = TRAIN_EPS + (1 - TRAIN_EPS) * torch.rand(x0.shape[0], device=x0.device)
    z = torch.randn_like(x0)
    xt = sde.mean(t)[:, None, None, None] * x0 + sde.std(t)[:, None, None, None] * z
    return (model(xt, t) - z).square().flatten(1).sum(1).mean()


def make_adam(params: list[nn.Parameter]) -> torch.optim.Adam:
    """Fused Adam where this PyTorch and device have it, else the default
    (said on stderr when on the GPU)."""
    kwargs = dict(lr=LR, betas=(0.9, 0.999), eps=1e-8)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (TypeError, RuntimeError) as err:
        if params[0].is_cuda:
            print(f"torch_reference: no fused Adam ({err}); using the default", file=sys.stderr, flush=True)
        return torch.optim.Adam(params, **kwargs)


class EMA:
    """The EMA of the weights as nn.EMA: decay min(0.9999, (1+n)/(10+n))."""

    def __init__(self, params: list[nn.Parameter]):
        self.params = params
        self.shadow = [p.detach().clone() for p in params]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(EMA_DECAY, (1 + self.updates) / (10 + self.updates))
        torch._foreach_mul_(self.shadow, decay)
        torch._foreach_add_(self.shadow, self.params, alpha=1 - decay)


class EMSampler:
    """Euler-Maruyama on the reverse VP SDE (sde.EulerMaruyama), one step per
    call: times linspace(1, eps, steps), dt = -1/steps; after a whole run from
    reset(), x_mean holds the samples (the last step's mean, without noise)."""

    def __init__(self, model: UNet, sde: VPSDE, shape: tuple[int, ...], steps: int, compile_: bool):
        device = next(model.parameters()).device
        self.shape, self.device = shape, device
        # Each time its own 0-d tensor rather than a view into the grid, whose
        # storage offset would change from call to call under torch.compile.
        self.times = [t.clone() for t in torch.linspace(1, SAMPLE_EPS, steps, device=device)]
        dt = -1 / steps

        def em_step(x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            score = -model(x, t.expand(x.shape[0])) / sde.std(t)
            beta = sde.beta(t)
            x_mean = x + (-0.5 * beta * x - beta * score) * dt
            return x_mean + torch.sqrt(-beta * dt) * torch.randn_like(x), x_mean

        self.step = torch.compile(em_step, dynamic=False) if compile_ else em_step
        self.reset()

    def reset(self) -> None:
        """Start a new run from the prior N(0, I)."""
        self.x = torch.randn(self.shape, device=self.device)
        self.i = 0

    def __call__(self) -> None:
        self.x, self.x_mean = self.step(self.x, self.times[self.i])
        self.i = (self.i + 1) % len(self.times)  # warm-up may go round


# Timing.


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_once(fn, device: torch.device) -> float:
    """Seconds one call of fn takes, synchronised."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def step_times(fn, n: int, device: torch.device) -> list[float]:
    """Seconds each of n calls of fn takes: CUDA events on the GPU (the steps
    stay queued back to back), the wall clock on the CPU."""
    if device.type != "cuda":
        return [timed_once(fn, device) for _ in range(n)]
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
    for start, end in events:
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize(device)
    return [start.elapsed_time(end) / 1e3 for start, end in events]


def measure(fn, steps: int, warmup: int, device: torch.device, restart=None) -> tuple[float, list[float]]:
    """The first call's time (it compiles), then warm-up calls, restart()
    if given, and the times of `steps` calls."""
    first = timed_once(fn, device)
    for _ in range(warmup):
        fn()
    if restart is not None:
        restart()
    return first, step_times(fn, steps, device)


def fresh_start(device: torch.device) -> None:
    """Forget earlier records (their compilations, which keep their models
    alive, and their memory peak) and reseed."""
    if hasattr(torch, "compile"):  # PyTorch 2
        from torch import _dynamo

        _dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(SEED)


def record(kind: str, cfg: Config, mode: str, batch: int, images_per_step: float, first: float,
           times: list[float], args: argparse.Namespace, device: torch.device) -> dict:
    """One result, in the JSON schema of the module docstring."""
    median = statistics.median(times)
    cuda = device.type == "cuda"
    return {
        "impl": "pytorch", "mode": mode, "kind": kind, "model": cfg.name,
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "batch": batch, "steps": len(times), "median_step_s": median,
        "images_per_s": images_per_step / median,
        "peak_gpu_mib": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
        "params": cfg.params, "compile_s": first if mode == "compile" else None, "tf32": args.tf32,
    }


# The benchmarks.


def bench_train(cfg: Config, batch: int, mode: str, args: argparse.Namespace, device: torch.device) -> dict:
    """Training steps at `batch` images on fixed random data."""
    fresh_start(device)
    model = build_model(cfg, device).train()
    params = list(model.parameters())
    sde, adam, ema = VPSDE(), make_adam(params), EMA(params)
    # Data as data.Loader gives it: pixels in [-1, 1].
    x0 = 2 * torch.rand(batch, cfg.channels, cfg.height, cfg.width, device=device) - 1

    def loss_fn(x: torch.Tensor) -> torch.Tensor:
        return dsm_loss(model, sde, x)

    loss = torch.compile(loss_fn, dynamic=False) if mode == "compile" else loss_fn

    def step() -> None:
        loss(x0).backward()
        nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        adam.step()
        adam.zero_grad(set_to_none=True)
        ema.update()

    first, times = measure(step, args.steps, args.warmup, device)
    return record("train", cfg, mode, batch, batch, first, times, args, device)


@torch.no_grad()
def bench_sample(cfg: Config, mode: str, args: argparse.Namespace, device: torch.device) -> dict:
    """One whole sampling run of --sample-steps steps, after warm-up steps."""
    fresh_start(device)
    model = build_model(cfg, device).eval()
    shape = (args.sample_batch, cfg.channels, cfg.height, cfg.width)
    sampler = EMSampler(model, VPSDE(), shape, args.sample_steps, mode == "compile")
    first, times = measure(sampler, args.sample_steps, args.warmup, device, restart=sampler.reset)
    rec = record("sample", cfg, mode, args.sample_batch, args.sample_batch / args.sample_steps,
                 first, times, args, device)
    rec["sample_steps"] = args.sample_steps
    return rec


def describe(r: dict) -> str:
    """A record as one line of text."""
    unit = "s/EM step" if r["kind"] == "sample" else "s/step"
    line = (f"pytorch {r['mode']:7} {r['kind']:6} {r['model']:8} batch {r['batch']:5} on {r['device']}: "
            f"{r['median_step_s']:.4f} {unit} (median of {r['steps']}), {r['images_per_s']:.1f} images/s")
    if r["peak_gpu_mib"] is not None:
        line += f", peak {r['peak_gpu_mib']:.0f} MiB"
    if r["compile_s"] is not None:
        line += f", compile {r['compile_s']:.1f} s"
    return line


# The command line.


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", choices=[*CONFIGS, "all"],
                   help="U-Net configuration; repeatable (default all)")
    p.add_argument("--batch", action="append", type=int,
                   help="images per training step; repeatable (default 32 and 128)")
    p.add_argument("--mode", choices=["eager", "compile", "all"], default="all", help="default all")
    p.add_argument("--steps", type=int, default=50, help="timed training steps (default 50)")
    p.add_argument("--warmup", type=int, default=10, help="warm-up steps before timing (default 10)")
    p.add_argument("--sample-steps", type=int, default=1000,
                   help="Euler-Maruyama steps of the mnist sampling run; 0 skips sampling (default 1000)")
    p.add_argument("--sample-batch", type=int, default=1024, help="images per sampling run (default 1024)")
    p.add_argument("--no-train", action="store_true", help="time mnist sampling only, no training steps")
    p.add_argument("--tf32", action="store_true", help="allow TF32 in matrix products and convolutions")
    p.add_argument("--json", metavar="PATH", help="write the records as a JSON list to PATH")
    p.add_argument("--cpu-smoke", action="store_true",
                   help="run on the CPU with tiny sizes, eager only: a syntax and shape test")
    args = p.parse_args(argv)
    args.models = list(CONFIGS) if not args.model or "all" in args.model else list(dict.fromkeys(args.model))
    args.batches = list(dict.fromkeys(args.batch or [32, 128]))
    args.modes = ["eager", "compile"] if args.mode == "all" else [args.mode]
    if args.cpu_smoke:
        args.batches, args.modes = [2], ["eager"]
        args.steps, args.warmup, args.sample_steps, args.sample_batch = 1, 1, 2, 2
    if "compile" in args.modes and not hasattr(torch, "compile"):
        if args.mode == "compile":
            p.error(f"--mode compile needs PyTorch 2, this is {torch.__version__}")
        print(f"torch_reference: PyTorch {torch.__version__} has no torch.compile: eager mode only",
              file=sys.stderr, flush=True)
        args.modes = ["eager"]
    if min(args.batches) < 1 or args.steps < 1 or args.sample_batch < 1:
        p.error("--batch, --steps and --sample-batch must be at least 1")
    if args.warmup < 0 or args.sample_steps < 0:
        p.error("--warmup and --sample-steps must be at least 0")
    if args.no_train and (args.sample_steps == 0 or "mnist" not in args.models):
        p.error("--no-train times mnist sampling only: it needs --sample-steps above 0 and the mnist model")
    return args


def setup(args: argparse.Namespace) -> torch.device:
    """The device to time on, with TF32 and cuDNN's autotuner set."""
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    if args.cpu_smoke:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        sys.exit("torch_reference: CUDA is not available (--cpu-smoke runs a CPU smoke test)")
    torch.backends.cudnn.benchmark = True  # the shapes are fixed
    return torch.device("cuda")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup(args)
    records = []

    def report(rec: dict) -> None:
        # Written after every record, so a later failure keeps the earlier ones.
        records.append(rec)
        print(describe(rec), flush=True)
        if args.json:  # replaced whole, so that a kill leaves the last complete file
            with open(args.json + ".tmp", "w") as f:
                json.dump(records, f, indent=2)
                f.write("\n")
            os.replace(args.json + ".tmp", args.json)

    for name in args.models:
        cfg = CONFIGS[name]
        for mode in args.modes:
            for batch in [] if args.no_train else args.batches:
                report(bench_train(cfg, batch, mode, args, device))
            if name == "mnist" and args.sample_steps > 0:
                report(bench_sample(cfg, mode, args, device))


if __name__ == "__main__":
    main()
