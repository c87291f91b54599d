"""PyTorch reference timing of our models' training steps (and U-Net sampling).

This is our own PyTorch implementation of the same networks, training steps
and sampler as the Go code, timed in FP32 on CUDA or on the CPU, so that
our figures (cmd/bench) have a peer on the same machine.
scripts/device-check.sh runs cmd/bench on the GPU and this script (eager)
with --json, and prints the two sets of figures side by side
(bench/compare.py); on the CPU, run both by hand and compare the same way.

The models (--model):

- mnist, cifar10: the reference U-Net (shared/REFERENCE_UNET.md; unet/,
  train/, sde/).
- vae: configs/mnist_vae.yaml, the convolutional VAE of vae/vae.go on
  dynamically binarised MNIST (vae/train.go, vae/loss.go).
- dcgan, wgangp: configs/mnist_dcgan.yaml and mnist_wgangp.yaml, the GANs of
  gan/nets.go with the losses of gan/loss.go (non-saturating; WGAN-GP).

What it times, for each model, batch size and mode (eager, torch.compile):

- train, U-Net: one training step as train.Trainer.TrainStep takes it on
  data already in memory: VP noising (t ~ U(1e-5, 1), z ~ N(0, I)),
  forward, the loss of train.Loss (the squared error between predicted and
  true noise, summed over pixels and averaged over the batch), backward,
  clipping to global norm 1, Adam (lr 2e-4, without the learning-rate
  warm-up, which costs nothing) and the EMA of the weights (0.9999, with
  nn.EMA's smaller decay over the first steps). torch.compile (static
  shapes, default mode) compiles the noising, forward and loss; AOTAutograd
  compiles its backward.
- train, vae/dcgan/wgangp: one full train.Trainer.TrainStep of the family:
  each update in order (the VAE's one; a GAN's discriminator update
  gan.n_critic times, then the generator's), each on the next of two fixed
  random batches when it reads data (uniform 8-bit pixels mapped to
  [-1, 1], as cmd/bench's randomData and data.Loader), with the forward,
  the loss, its gradient with respect to the update's own parameter group
  only, the global gradient norm, reading the loss, metrics and norm back
  (the trainer checks them for finiteness: one synchronisation per update,
  as ours), global-norm clipping (train.grad_clip; 0 = none), Adam with
  the learning-rate warm-up of train.warmup, the group's EMA where it keeps
  one, and BatchNorm's running statistics (the generator's, from its own
  update only). images_per_s counts the data images a step reads: a
  WGAN-GP step (5 critic updates) reads 5 batches. Eager mode only.
- sample (mnist only): Euler-Maruyama on the reverse VP SDE as
  sde.EulerMaruyama, in eval mode under torch.no_grad(), one full run of
  --sample-steps steps from the prior at --sample-batch images. Its
  images_per_s is sample_batch / (sample_steps * median_step_s).

Each figure is the median over --steps timed training steps (for sampling,
over the steps of one whole run) after --warmup warm-up steps, measured with
CUDA events on the GPU and time.perf_counter on the CPU; compilation (the
first call) is timed separately and left out. On the CPU, PyTorch runs
--threads threads (2 by default). Peak GPU memory is
torch.cuda.max_memory_allocated over the whole record; peak RSS is the
process's (resource.getrusage), so a record's includes the records before
it in the same run: run one model and batch per process to compare it.
Matrix products and convolutions run in true FP32 unless --tf32 is given
(on the GPU) or --bf16 (U-Net training on the CPU, under autocast to BF16);
cuDNN picks its algorithms by timing them. PyTorch 1.x (Debian's
python3-torch) has no torch.compile and runs eager mode only.

    python3 bench/torch_reference.py --model mnist --batch 32 --json out.json
    python3 bench/torch_reference.py --device cpu --mode eager --model vae --batch 128 --steps 10 --warmup 2
    python3 bench/torch_reference.py --cpu-smoke     # shapes and syntax only

Each JSON record has cmd/bench's keys kind ("train" or "sample"), model,
device ("cpu" or "cuda"), batch, steps, median_step_s (with min_step_s and
max_step_s), images_per_s and
peak_rss_mib (MiB), and besides impl ("pytorch"), mode, device_name (the
GPU's name, or "cpu"), threads (PyTorch's CPU threads), cpu_s_per_step (the
process's CPU time per timed step, all threads: beside median_step_s it
tells how much of a shared machine the run got), env (the variables of
THREAD_ENV that are set: OMP_WAIT_POLICY=PASSIVE keeps a 2-thread run on a
busy shared machine from spinning away its time), peak_gpu_mib (null
on the CPU), params, compile_s (null in eager mode), tf32, precision ("fp32"
or "bf16"), and for sampling
sample_steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import os
import resource
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


class GroupNorm(nn.GroupNorm):
    """nn.GroupNorm on FP32 input: PyTorch 1.13's CPU autocast leaves
    group_norm off its FP32 list, so a BF16 convolution's output would meet
    FP32 weights and fail. A no-op without autocast."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float())


def group_norm(c: int) -> nn.GroupNorm:
    """GroupNorm with min(32, C/4) groups and eps 1e-6."""
    return GroupNorm(min(32, c // 4), c, eps=1e-6)


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


def make_adam(params: list[nn.Parameter], lr: float = LR, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
    """Fused Adam where this PyTorch and device have it, else the default
    (said on stderr when on the GPU). On the CPU, the default."""
    kwargs = dict(lr=lr, betas=betas, eps=1e-8)
    if not params[0].is_cuda:  # fused Adam is CUDA's only (PyTorch 1.13 may refuse it only at the first step)
        return torch.optim.Adam(params, **kwargs)
    try:
        return torch.optim.Adam(params, fused=True, **kwargs)
    except (TypeError, RuntimeError) as err:
        if params[0].is_cuda:
            print(f"torch_reference: no fused Adam ({err}); using the default", file=sys.stderr, flush=True)
        return torch.optim.Adam(params, **kwargs)


class EMA:
    """The EMA of the weights as optim.EMA: decay min(decay, (1+n)/(10+n))
    after n updates (0.9999 for the U-Net, train.ema for the families)."""

    def __init__(self, params: list[nn.Parameter], decay: float = EMA_DECAY):
        self.params = params
        self.shadow = [p.detach().clone() for p in params]
        self.updates = 0
        self.decay = decay

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
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


# The other families: the VAE and the GANs (model.type vae and gan).
#
# Each is the experiment file's network and training step, layer for layer
# as the Go code builds them (vae/vae.go, vae/loss.go, vae/train.go;
# gan/nets.go, gan/bn.go, gan/loss.go, gan/train.go), and trained as
# train.Trainer.TrainStep trains any family (train/train.go, train/step.go).
# Every nn.Conv2d and nn.Linear keeps PyTorch's default initialisation,
# which nn.Builder's Conv2d and Linear copy (uniform, bound 1/sqrt(fan_in),
# for weights and biases); BatchNorm starts at scale 1 and shift 0.


@dataclasses.dataclass(frozen=True)
class Optim:
    """One parameter group's optimiser (optim.Settings from the train
    section): Adam's learning rate and betas (eps 1e-8), the warm-up steps,
    the global-norm clipping (0: none) and the EMA decay (0: none)."""

    lr: float
    betas: tuple[float, float]
    warmup: int
    clip: float
    ema: float


@dataclasses.dataclass(frozen=True)
class FamilyConfig:
    """An experiment of another family: configs/<file> over default.yaml."""

    name: str  # the --model name, as cmd/bench's
    file: str  # the experiment file in configs/
    kind: str  # "vae", or the gan.loss: "nonsaturating", "minimax" or "wgan-gp"
    channels: int
    height: int
    width: int
    latent: int  # vae.latent or gan.latent
    ch: int  # vae.ch or gan.ch
    batch: int  # data.batch_size
    optim: Optim  # the train section (a GAN's discriminator keeps no EMA)
    beta: float = 1.0  # vae.beta
    kl_warmup: int = 0  # vae.kl_warmup
    n_critic: int = 1  # gan.n_critic
    gp_lambda: float = 10.0  # gan.gp_lambda


FAMILIES = {
    # configs/mnist_vae.yaml: vae latent 32, ch 32, decoder bernoulli, beta 1,
    # kl_warmup 1000; batch 64; lr 1e-3, betas 0.9, 0.999 (default.yaml),
    # warmup 100, grad_clip 0, ema 0.999.
    "vae": FamilyConfig("vae", "mnist_vae.yaml", "vae", 1, 28, 28, latent=32, ch=32, batch=64,
                        optim=Optim(1e-3, (0.9, 0.999), 100, 0.0, 0.999), beta=1.0, kl_warmup=1000),
    # configs/mnist_dcgan.yaml: gan loss nonsaturating, latent 100, ch 32,
    # n_critic 1; batch 64; lr 2e-4, betas 0.5, 0.999, warmup 0, grad_clip 0,
    # ema 0.999 (the generator's only).
    "dcgan": FamilyConfig("dcgan", "mnist_dcgan.yaml", "nonsaturating", 1, 28, 28, latent=100, ch=32, batch=64,
                          optim=Optim(2e-4, (0.5, 0.999), 0, 0.0, 0.999), n_critic=1),
    # configs/mnist_wgangp.yaml: gan loss wgan-gp, latent 100, ch 32,
    # n_critic 5, gp_lambda 10; batch 64; lr 1e-4, betas 0, 0.9, warmup 0,
    # grad_clip 0, ema 0.999 (the generator's only).
    "wgangp": FamilyConfig("wgangp", "mnist_wgangp.yaml", "wgan-gp", 1, 28, 28, latent=100, ch=32, batch=64,
                           optim=Optim(1e-4, (0.0, 0.9), 0, 0.0, 0.999), n_critic=5, gp_lambda=10.0),
}


def config_drift(fc: FamilyConfig, root: str) -> list[str]:
    """The keys where configs/<fc.file> (over configs/default.yaml) differs
    from fc, where both files and PyYAML are there; else nothing."""
    try:
        import yaml
    except ImportError:
        return []
    paths = [os.path.join(root, "configs", f) for f in ("default.yaml", fc.file)]
    if not all(os.path.exists(p) for p in paths):
        return []
    cfg: dict = {}
    for path in paths:
        with open(path) as f:
            for section, values in (yaml.safe_load(f) or {}).items():
                if isinstance(values, dict):
                    cfg.setdefault(section, {}).update(values)
                else:
                    cfg[section] = values
    fam = cfg.get("vae" if fc.kind == "vae" else "gan", {})
    t = cfg.get("train", {})
    want = {
        "data.batch_size": (cfg.get("data", {}).get("batch_size"), fc.batch),
        "latent": (fam.get("latent"), fc.latent), "ch": (fam.get("ch"), fc.ch),
        "train.lr": (t.get("lr"), fc.optim.lr), "train.beta1": (t.get("beta1"), fc.optim.betas[0]),
        "train.beta2": (t.get("beta2"), fc.optim.betas[1]), "train.warmup": (t.get("warmup"), fc.optim.warmup),
        "train.grad_clip": (t.get("grad_clip"), fc.optim.clip), "train.ema": (t.get("ema"), fc.optim.ema),
    }
    if fc.kind == "vae":
        want.update({"vae.decoder": (fam.get("decoder"), "bernoulli"), "vae.beta": (fam.get("beta"), fc.beta),
                     "vae.kl_warmup": (fam.get("kl_warmup"), fc.kl_warmup)})
    else:
        want.update({"gan.loss": (fam.get("loss"), fc.kind), "gan.n_critic": (fam.get("n_critic"), fc.n_critic),
                     "gan.gp_lambda": (fam.get("gp_lambda"), fc.gp_lambda),
                     "gan.lr_d": (fam.get("lr_d") or 0, 0)})
    return [f"{k} = {got!r} in {fc.file}, {exp!r} here" for k, (got, exp) in want.items()
            if got is not None and got != exp]


class VAE(nn.Module):
    """vae.Family's network with the Bernoulli decoder (vae/vae.go).

    encode: Conv 3x3 stride 2 pad 1 to ch, ReLU; Conv 3x3 s2 p1 to 2 ch, ReLU
    (28 -> 14 -> 7); flatten; Linear to 8 ch, ReLU; Linear to 2 latent,
    split into mu and logvar.
    decode: Linear latent -> 8 ch, ReLU; Linear to ch (H/4) (W/4), ReLU;
    reshape [ch, H/4, W/4]; nearest 2x upsampling, Conv 3x3 p1 to ch, ReLU;
    Conv 3x3 p1 to max(1, ch/4), ReLU; nearest 2x upsampling, Conv 3x3 p1
    to C (one Bernoulli logit per pixel)."""

    def __init__(self, fc: FamilyConfig):
        super().__init__()
        ch, hidden, self.latent = fc.ch, 8 * fc.ch, fc.latent
        self.map = (ch, fc.height // 4, fc.width // 4)
        self.enc_conv1 = nn.Conv2d(fc.channels, ch, 3, stride=2, padding=1)
        self.enc_conv2 = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.enc_fc = nn.Linear(2 * ch * (fc.height // 4) * (fc.width // 4), hidden)
        self.enc_out = nn.Linear(hidden, 2 * fc.latent)
        self.dec_fc = nn.Linear(fc.latent, hidden)
        self.dec_fc2 = nn.Linear(hidden, ch * (fc.height // 4) * (fc.width // 4))
        self.dec_conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.dec_conv2 = nn.Conv2d(ch, max(1, ch // 4), 3, padding=1)
        self.dec_out = nn.Conv2d(max(1, ch // 4), fc.channels, 3, padding=1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.enc_conv2(F.relu(self.enc_conv1(x))))
        out = self.enc_out(F.relu(self.enc_fc(h.flatten(1))))
        return out[:, :self.latent], out[:, self.latent:]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.dec_fc2(F.relu(self.dec_fc(z)))).reshape(z.shape[0], *self.map)
        h = F.relu(self.dec_conv1(F.interpolate(h, scale_factor=2, mode="nearest")))
        h = F.relu(self.dec_conv2(h))
        return self.dec_out(F.interpolate(h, scale_factor=2, mode="nearest"))


def vae_loss(model: VAE, x: torch.Tensor, kl_weight: float) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The negative ELBO of vae.Family.TrainGraph: z = mu + exp(logvar/2) eps,
    the batch binarised afresh (pixel p in [0, 1], from x in [-1, 1] as
    x/2 + 1/2, is 1 with probability p), recon = sum(softplus(l) - t l) over
    the logits l, KL = 0.5 sum(mu^2 + e^logvar - logvar) - latent/2, and the
    loss the batch mean of recon + w KL; the metrics recon, kl and nelbo."""
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    logits = model.decode(z)
    target = torch.bernoulli(0.5 * x + 0.5)
    recon = (F.softplus(logits) - target * logits).flatten(1).sum(1)
    kl = 0.5 * (mu * mu + torch.exp(logvar) - logvar).sum(1) - 0.5 * mu.shape[1]
    loss = (recon + kl * kl_weight).mean()
    return loss, [recon.mean(), kl.mean(), (recon + kl).mean()]


def gan_stages(side: int) -> tuple[int, int]:
    """gan.stages: the 2x upsamplings and the starting side (7 -> 14 -> 28,
    or 4 -> 8 -> 16 -> 32)."""
    return (3, 4) if side == 32 else (2, 7)


class GenBatchNorm(nn.BatchNorm2d):
    """gan/bn.go's BatchNorm (eps 1e-5, momentum 0.1, as torch's): in
    training it normalises by the batch's mean and biased variance; its
    running statistics follow the batch's mean and unbiased variance of the
    generator's update only (model.State.Update = updateG in gan/train.go),
    so during the discriminator's update (follow False) they stay."""

    follow = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and not self.follow:
            return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return super().forward(x)


class Generator(nn.Module):
    """gan.generator: Linear latent -> ch 2^(n-1) x base x base; per stage
    BatchNorm, ReLU, nearest 2x upsampling and a 3x3 convolution (pad 1)
    halving the channels (the last to C), then Tanh."""

    def __init__(self, fc: FamilyConfig):
        super().__init__()
        n, base = gan_stages(fc.height)
        width = fc.ch << (n - 1)
        self.map = (width, base, base)
        self.fc = nn.Linear(fc.latent, width * base * base)
        self.bns, self.convs = nn.ModuleList(), nn.ModuleList()
        for i in range(n):
            out = fc.channels if i == n - 1 else width // 2
            self.bns.append(GenBatchNorm(width, eps=1e-5, momentum=0.1))
            self.convs.append(nn.Conv2d(width, out, 3, padding=1))
            width = out

    def follow_stats(self, on: bool) -> None:
        for bn in self.bns:
            bn.follow = on

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).reshape(z.shape[0], *self.map)
        for bn, conv in zip(self.bns, self.convs):
            h = conv(F.interpolate(F.relu(bn(h)), scale_factor=2, mode="nearest"))
        return torch.tanh(h)


class Critic(nn.Module):
    """gan.critic: per stage a 4x4 convolution of stride 2, pad 1, to ch 2^i
    channels and LeakyReLU(0.2), then a Linear to one logit. No BatchNorm."""

    def __init__(self, fc: FamilyConfig):
        super().__init__()
        n, base = gan_stages(fc.height)
        self.convs = nn.ModuleList()
        cin = fc.channels
        for i in range(n):
            self.convs.append(nn.Conv2d(cin, fc.ch << i, 4, stride=2, padding=1))
            cin = fc.ch << i
        self.fc = nn.Linear(cin * base * base, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for conv in self.convs:
            h = F.leaky_relu(conv(h), 0.2)
        return self.fc(h.flatten(1))


GP_NORM_FLOOR = 1e-12  # gan.normFloor, added to the squared norm under the square root


def gradient_penalty(d: Critic, x: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """gan.gradientPenalty: mean_i (||grad_xhat D(xhat)_i|| - 1)^2 with
    xhat = fake + eps (x - fake), eps ~ U[0, 1) per sample; the gradient
    with create_graph, so that the critic's gradient goes through it."""
    eps = torch.rand(x.shape[0], 1, 1, 1, device=x.device)
    xhat = (fake + eps * (x - fake)).requires_grad_(True)
    out = d(xhat)
    (grad,) = torch.autograd.grad(out, xhat, torch.ones_like(out), create_graph=True)
    norm = torch.sqrt(grad.square().sum((1, 2, 3)) + GP_NORM_FLOOR)
    return (norm - 1).square().mean()


def gan_d_loss(fc: FamilyConfig, g: Generator, d: Critic, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The discriminator's update of gan.newGame on real x and G(z), z ~ N(0,
    I) fresh: softplus(-D(x)) + softplus(D(G(z))), batch means (minimax and
    non-saturating), or D(G(z)) - D(x) + lambda GP (WGAN-GP); the metrics
    real and fake (the mean logits) and gp. The generator runs with batch
    statistics and without its backward (the gradient is by D's weights
    only), its running statistics untouched."""
    g.follow_stats(False)
    with torch.no_grad():
        fake = g(torch.randn(x.shape[0], fc.latent, device=x.device))
    g.follow_stats(True)
    real, gen = d(x), d(fake)
    mean_real, mean_gen = real.mean(), gen.mean()
    if fc.kind == "wgan-gp":
        gp = gradient_penalty(d, x, fake)
        return mean_gen - mean_real + fc.gp_lambda * gp, [mean_real, mean_gen, gp]
    return F.softplus(-real).mean() + F.softplus(gen).mean(), [mean_real, mean_gen]


def gan_g_loss(fc: FamilyConfig, g: Generator, d: Critic, batch: int, device: torch.device) -> torch.Tensor:
    """The generator's update: -softplus(D(G(z))) (minimax),
    softplus(-D(G(z))) (non-saturating) or -D(G(z)) (WGAN-GP), batch means,
    on a fresh z; BatchNorm's running statistics follow this batch."""
    gen = d(g(torch.randn(batch, fc.latent, device=device)))
    if fc.kind == "wgan-gp":
        return -gen.mean()
    if fc.kind == "minimax":
        return -F.softplus(gen).mean()
    return F.softplus(-gen).mean()


class Group:
    """A parameter group with its optimiser (model.Group, optim.Settings)."""

    def __init__(self, params: list[nn.Parameter], o: Optim, ema: bool):
        self.params, self.o = params, o
        self.adam = make_adam(params, o.lr, o.betas)
        self.ema = EMA(params, o.ema) if ema and o.ema > 0 else None


@dataclasses.dataclass
class Update:
    """model.Update: loss(x) -> (loss, metrics) for x the next batch (None
    when the update reads no data), by the group's parameters, repeat times."""

    group: Group
    loss: object
    repeat: int = 1
    data: bool = True


class FamilyTrainer:
    """train.Trainer.TrainStep for a family's updates, on two fixed batches."""

    def __init__(self, updates: list[Update], batches: list[torch.Tensor]):
        self.updates, self.batches = updates, batches
        self.step, self.next_batch, self.images = 0, 0, 0

    def train_step(self) -> None:
        images = 0
        for up in self.updates:
            grp = up.group
            # optim.WarmupLR: lr min((step+1) / warmup, 1)
            lr = grp.o.lr * min((self.step + 1) / grp.o.warmup, 1) if grp.o.warmup > 0 else grp.o.lr
            for pg in grp.adam.param_groups:
                pg["lr"] = lr
            for _ in range(max(up.repeat, 1)):
                x = None
                if up.data:
                    x = self.batches[self.next_batch]
                    self.next_batch = (self.next_batch + 1) % len(self.batches)
                    images += x.shape[0]
                loss, metrics = up.loss(x)
                # The gradient by the group's own parameters only (gorgonia.Grad
                # of the update's loss by Groups[Group].Params).
                grads = torch.autograd.grad(loss, grp.params)
                norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
                # The trainer reads the loss, metrics and norm back, and changes
                # nothing when the loss or norm is not finite.
                vals = torch.stack([loss.detach(), norm, *[m.detach() for m in metrics]]).tolist()
                if not all(map(math.isfinite, vals[:2])):
                    raise RuntimeError(f"step {self.step + 1}: loss {vals[0]}, gradient norm {vals[1]}: training diverged")
                # optim.ClipScale: max_norm / max(norm, max_norm); 0 turns clipping off.
                scale = grp.o.clip / max(vals[1], grp.o.clip) if grp.o.clip > 0 else 1.0
                if scale != 1.0:
                    torch._foreach_mul_(list(grads), scale)
                for p, g in zip(grp.params, grads):
                    p.grad = g
                grp.adam.step()
                for p in grp.params:
                    p.grad = None
                if grp.ema is not None:
                    grp.ema.update()
        self.step += 1
        self.images = images


def random_batches(fc: FamilyConfig, batch: int, device: torch.device) -> list[torch.Tensor]:
    """cmd/bench's randomData as data.Loader gives it: two batches of
    uniform 8-bit pixels, each mapped to x/127.5 - 1."""
    shape = (batch, fc.channels, fc.height, fc.width)
    return [(torch.randint(0, 256, shape, device=device).float() / 127.5 - 1) for _ in range(2)]


def build_family(fc: FamilyConfig, batch: int, device: torch.device) -> tuple[FamilyTrainer, nn.Module]:
    """The family's networks in training mode and its TrainStep."""
    batches = random_batches(fc, batch, device)
    if fc.kind == "vae":
        model = VAE(fc).to(device).train()
        grp = Group(list(model.parameters()), fc.optim, ema=True)
        trainer = FamilyTrainer([], batches)

        def loss(x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
            # vae.klWeight: beta min(1, step / kl_warmup), step the steps done.
            w = fc.beta * min(1, trainer.step / fc.kl_warmup) if fc.kl_warmup > 0 else fc.beta
            return vae_loss(model, x, w)

        trainer.updates = [Update(grp, loss)]
        return trainer, model
    g, d = Generator(fc).to(device).train(), Critic(fc).to(device).train()
    gd = Group(list(d.parameters()), fc.optim, ema=False)  # only the generator's average is sampled from
    gg = Group(list(g.parameters()), fc.optim, ema=True)
    updates = [
        Update(gd, lambda x: gan_d_loss(fc, g, d, x), repeat=fc.n_critic),
        Update(gg, lambda _: (gan_g_loss(fc, g, d, batch, device), []), data=False),
    ]
    return FamilyTrainer(updates, batches), nn.ModuleDict({"g": g, "d": d})


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


def measure(fn, steps: int, warmup: int, device: torch.device, restart=None) -> tuple[float, list[float], float]:
    """The first call's time (it compiles), then warm-up calls, restart()
    if given, and the times of `steps` calls, with the process's CPU time
    (all threads, time.process_time) per call over them: on a shared
    machine, wall time beside CPU time tells how much of it the run got."""
    first = timed_once(fn, device)
    for _ in range(warmup):
        fn()
    if restart is not None:
        restart()
    cpu = time.process_time()
    times = step_times(fn, steps, device)
    return first, times, (time.process_time() - cpu) / steps


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


# The environment that sets how the CPU's threads wait and share: with
# libgomp's default (active) waiting, a 2-thread run on a machine shared
# with other busy processes spends most of its CPU time spinning
# (measured: vae b128 0.78 CPU s/step against 0.18 with
# OMP_WAIT_POLICY=PASSIVE, at a load average near 9 on 2 cores).
THREAD_ENV = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def peak_rss_mib() -> float:
    """The process's peak resident set size (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def record(kind: str, name: str, params: int, mode: str, batch: int, images_per_step: float, first: float,
           times: list[float], cpu_s: float, args: argparse.Namespace, device: torch.device) -> dict:
    """One result, in the JSON schema of the module docstring: cmd/bench's
    keys (device "cpu" or "cuda", as its), then ours."""
    median = statistics.median(times)
    cuda = device.type == "cuda"
    return {
        "kind": kind, "model": name, "device": device.type, "batch": batch, "steps": len(times),
        "median_step_s": median, "min_step_s": min(times), "max_step_s": max(times),
        "images_per_s": images_per_step / median, "peak_rss_mib": peak_rss_mib(),
        "impl": "pytorch", "mode": mode,
        "device_name": torch.cuda.get_device_name(device) if cuda else "cpu",
        "threads": torch.get_num_threads(), "cpu_s_per_step": cpu_s,
        "env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
        "peak_gpu_mib": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
        "params": params, "compile_s": first if mode == "compile" else None, "tf32": args.tf32,
        "precision": "bf16" if args.bf16 and kind == "train" else "fp32",
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
        if args.bf16:
            # PyTorch's CPU mixed precision: its autocast runs convolutions
            # and matrix products in BF16; weights, Adam and EMA stay FP32.
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return dsm_loss(model, sde, x).float()
        return dsm_loss(model, sde, x)

    loss = torch.compile(loss_fn, dynamic=False) if mode == "compile" else loss_fn

    def step() -> None:
        loss(x0).backward()
        nn.utils.clip_grad_norm_(params, GRAD_CLIP)
        adam.step()
        adam.zero_grad(set_to_none=True)
        ema.update()

    first, times, cpu_s = measure(step, args.steps, args.warmup, device)
    return record("train", cfg.name, cfg.params, mode, batch, batch, first, times, cpu_s, args, device)


@torch.no_grad()
def bench_sample(cfg: Config, mode: str, args: argparse.Namespace, device: torch.device) -> dict:
    """One whole sampling run of --sample-steps steps, after warm-up steps."""
    fresh_start(device)
    model = build_model(cfg, device).eval()
    shape = (args.sample_batch, cfg.channels, cfg.height, cfg.width)
    sampler = EMSampler(model, VPSDE(), shape, args.sample_steps, mode == "compile")
    first, times, cpu_s = measure(sampler, args.sample_steps, args.warmup, device, restart=sampler.reset)
    rec = record("sample", cfg.name, cfg.params, mode, args.sample_batch, args.sample_batch / args.sample_steps,
                 first, times, cpu_s, args, device)
    rec["sample_steps"] = args.sample_steps
    return rec


def bench_family(fc: FamilyConfig, batch: int, args: argparse.Namespace, device: torch.device) -> dict:
    """Full training steps of a VAE or GAN experiment at `batch` images per
    batch on fixed random data (eager only)."""
    fresh_start(device)
    trainer, model = build_family(fc, batch, device)
    params = sum(p.numel() for p in model.parameters())
    first, times, cpu_s = measure(trainer.train_step, args.steps, args.warmup, device)
    return record("train", fc.name, params, "eager", batch, trainer.images, first, times, cpu_s, args, device)


def describe(r: dict) -> str:
    """A record as one line of text."""
    unit = "s/EM step" if r["kind"] == "sample" else "s/step"
    on = r["device_name"] if r["device"] == "cuda" else f"cpu ({r['threads']} threads)"
    line = (f"pytorch {r['mode']:7} {r['kind']:6} {r['model']:8} batch {r['batch']:5} on {on}: "
            f"{r['median_step_s']:.4f} {unit} (median of {r['steps']}), {r['images_per_s']:.1f} images/s, "
            f"peak RSS {r['peak_rss_mib']:.0f} MiB, {r['cpu_s_per_step']:.4f} CPU s/step")
    if r["peak_gpu_mib"] is not None:
        line += f", peak {r['peak_gpu_mib']:.0f} MiB"
    if r["compile_s"] is not None:
        line += f", compile {r['compile_s']:.1f} s"
    return line


# The command line.


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", choices=[*CONFIGS, *FAMILIES, "all"],
                   help="the U-Net configuration (mnist, cifar10) or family experiment (vae, dcgan, wgangp); "
                        "repeatable (default all)")
    p.add_argument("--batch", action="append", type=int,
                   help="images per training step (per batch for a GAN's critic updates); repeatable "
                        "(default 32 and 128 for the U-Net, the experiment's data.batch_size for the others: "
                        "64 for vae, dcgan and wgangp)")
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="default cuda")
    p.add_argument("--threads", type=int, default=2,
                   help="PyTorch's CPU threads (torch.set_num_threads) with --device cpu (default 2)")
    p.add_argument("--mode", choices=["eager", "compile", "all"], default="all",
                   help="default all; vae, dcgan and wgangp run eager only")
    p.add_argument("--steps", type=int, default=50, help="timed training steps (default 50)")
    p.add_argument("--warmup", type=int, default=10, help="warm-up steps before timing (default 10)")
    p.add_argument("--sample-steps", type=int, default=1000,
                   help="Euler-Maruyama steps of the mnist sampling run; 0 skips sampling (default 1000)")
    p.add_argument("--sample-batch", type=int, default=1024, help="images per sampling run (default 1024)")
    p.add_argument("--no-train", action="store_true", help="time mnist sampling only, no training steps")
    p.add_argument("--tf32", action="store_true", help="allow TF32 in matrix products and convolutions")
    p.add_argument("--bf16", action="store_true",
                   help="U-Net training under CPU autocast to BF16 (cmd/bench --precision bf16's peer)")
    p.add_argument("--json", metavar="PATH", help="write the records as a JSON list to PATH")
    p.add_argument("--cpu-smoke", action="store_true",
                   help="run on the CPU with tiny sizes, eager only: a syntax and shape test")
    args = p.parse_args(argv)
    every = [*CONFIGS, *FAMILIES]
    args.models = every if not args.model or "all" in args.model else list(dict.fromkeys(args.model))
    args.batches = list(dict.fromkeys(args.batch)) if args.batch else None  # None: each model's default
    args.modes = ["eager", "compile"] if args.mode == "all" else [args.mode]
    if args.cpu_smoke:
        args.device, args.batches, args.modes = "cpu", [2], ["eager"]
        args.steps, args.warmup, args.sample_steps, args.sample_batch = 1, 0, 2, 2  # each step runs twice
    if "compile" in args.modes and not hasattr(torch, "compile"):
        if args.mode == "compile":
            p.error(f"--mode compile needs PyTorch 2, this is {torch.__version__}")
        print(f"torch_reference: PyTorch {torch.__version__} has no torch.compile: eager mode only",
              file=sys.stderr, flush=True)
        args.modes = ["eager"]
    if args.mode == "compile" and all(m in FAMILIES for m in args.models):
        p.error("--mode compile: vae, dcgan and wgangp run eager only")
    if (args.batches and min(args.batches) < 1) or args.steps < 1 or args.sample_batch < 1 or args.threads < 1:
        p.error("--batch, --steps, --sample-batch and --threads must be at least 1")
    if args.warmup < 0 or args.sample_steps < 0:
        p.error("--warmup and --sample-steps must be at least 0")
    if args.bf16 and (args.device != "cpu" or any(m in FAMILIES for m in args.models)):
        p.error("--bf16 is for U-Net training on the CPU (--device cpu, --model mnist or cifar10)")
    if args.no_train and (args.sample_steps == 0 or "mnist" not in args.models):
        p.error("--no-train times mnist sampling only: it needs --sample-steps above 0 and the mnist model")
    return args


def setup(args: argparse.Namespace) -> torch.device:
    """The device to time on, with TF32, cuDNN's autotuner and the CPU
    threads set."""
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
        return torch.device("cpu")
    if not torch.cuda.is_available():
        sys.exit("torch_reference: CUDA is not available (--device cpu times on the CPU, "
                 "--cpu-smoke runs a CPU smoke test)")
    torch.backends.cudnn.benchmark = True  # the shapes are fixed
    return torch.device("cuda")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = setup(args)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
        if name in FAMILIES:
            fc = FAMILIES[name]
            for drift in config_drift(fc, root):
                print(f"torch_reference: {name}: {drift}: update FAMILIES", file=sys.stderr, flush=True)
            if "eager" not in args.modes:
                print(f"torch_reference: {name} runs eager only: skipped under --mode compile", file=sys.stderr, flush=True)
                continue
            for batch in [] if args.no_train else args.batches or [fc.batch]:
                report(bench_family(fc, batch, args, device))
            continue
        cfg = CONFIGS[name]
        for mode in args.modes:
            for batch in [] if args.no_train else args.batches or [32, 128]:
                report(bench_train(cfg, batch, mode, args, device))
            if name == "mnist" and args.sample_steps > 0:
                report(bench_sample(cfg, mode, args, device))


if __name__ == "__main__":
    main()
