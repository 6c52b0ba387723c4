"""Networks of the policy: observation encoders and action-chunk decoders.

The decoder sees the noisy action chunk ``x_in`` (batch, horizon, c_in), a scalar noise code
``c_noise`` (batch,) and an observation feature vector ``cond`` (batch, cond_dim), and returns a
tensor (batch, horizon, c_out). What the output means (noise, score, denoised action) is decided by
the SDE's parameterisation (``course_lib.sdes``), never here.

- ``DiffusionTransformer``: the paper's decoder (Section 3.1.3): one token per future step, learned
  positional embeddings, self-attention blocks conditioned on time and observation through adaptive
  layer norm (DiT's adaLN-Zero).
- ``TemporalUNet``: the 1-D convolutional U-Net with FiLM conditioning of Diffusion Policy (Chi et
  al.), offered beside it as the faster decoder on a CPU.
- ``LowDimEncoder`` (keypoints + agent position) and ``ImageEncoder`` (torchvision ResNet-18, no
  pretrained weights, batch norm replaced by group norm, over the last frames + agent position).

Sizes are configurations (``DECODER_SIZES``), not forks of the code.
"""

from __future__ import annotations

import math
import warnings
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------- embeddings


class NoiseEmbedding(nn.Module):
    """Sinusoidal embedding of the noise code c (Vaswani et al.), then a 2-layer MLP.

    e(c)_k = [sin(w_k s c), cos(w_k s c)], w_k = 10000^(-k/(dim/2)); s = 1000 spreads codes of
    order one (t in [0, 1], ln(sigma)/4) over the frequencies.
    """

    def __init__(self, dim: int, scale: float = 1000.0):
        super().__init__()
        if dim % 2:
            raise ValueError(f"embedding dim must be even, got {dim}")
        half = dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        self.register_buffer("freqs", freqs, persistent=False)
        self.scale = scale
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.Mish(), nn.Linear(4 * dim, dim))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        angles = (self.scale * c.to(self.freqs.dtype))[:, None] * self.freqs[None, :]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))


# --------------------------------------------------------------------------- transformer


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


def _self_attention(attn: nn.MultiheadAttention, h: torch.Tensor) -> torch.Tensor:
    """Multi-head self-attention with the weights of ``attn``: per head softmax(Q K^T / sqrt(d)) V,
    [Q, K, V] = h W_in^T + b_in, then the output projection.

    The same function as ``attn(h, h, h)`` (no dropout, no mask), without the module's general
    dispatch (cross-attention, masks, packed-input checks), which on 4 tokens costs more than the
    arithmetic: the course decoder trains 1.09x the samples/s (median of 5 paired windows, 2
    threads, batch 256). Without autograd the module's fused inference kernel is the faster one
    (batch 1: 1.00 against 1.07 ms a decoder call), so ``DiTBlock`` calls the module there.
    """
    batch, tokens, dim = h.shape
    heads = attn.num_heads
    qkv = F.linear(h, attn.in_proj_weight, attn.in_proj_bias)
    q, k, v = qkv.view(batch, tokens, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
    out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, tokens, dim)
    return attn.out_proj(out)


class DiTBlock(nn.Module):
    """Pre-norm transformer block with adaLN-Zero: LN -> modulate -> attention/MLP -> gated residual."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim)
        )
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        nn.init.zeros_(self.ada[1].weight)
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(c).chunk(6, dim=-1)
        h = _modulate(self.norm1(x), sh1, sc1)
        if torch.is_grad_enabled():
            attended = _self_attention(self.attn, h)
        else:
            attended = self.attn(h, h, h, need_weights=False)[0]
        x = x + g1[:, None, :] * attended
        h = _modulate(self.norm2(x), sh2, sc2)
        return x + g2[:, None, :] * self.mlp(h)


class DiffusionTransformer(nn.Module):
    """Diffusion transformer over the action chunk (paper Section 3.1.3).

    Tokens: Linear(x_in[:, pi : p(i+1)]) + e_i for i < horizon/p, one token per ``patch`` = p
    consecutive actions (p = 1 is the paper's one token per step; p = 2 halves the tokens, and
    the cost, of a 16-step chunk). Conditioning vector c = NoiseEmbedding(c_noise) + MLP(cond)
    drives every block's adaLN-Zero modulation.
    """

    def __init__(
        self,
        horizon: int,
        in_channels: int,
        out_channels: int,
        cond_dim: int,
        dim: int = 128,
        depth: int = 4,
        heads: int = 4,
        patch: int = 1,
    ):
        super().__init__()
        if patch < 1 or horizon % patch:
            raise ValueError(f"patch {patch} must be >= 1 and divide the horizon {horizon}")
        self.horizon = horizon
        self.patch = patch
        self.inp = nn.Linear(patch * in_channels, dim)
        self.pos = nn.Parameter(torch.zeros(1, horizon // patch, dim))
        nn.init.normal_(self.pos, std=0.02)
        self.time = NoiseEmbedding(dim)
        self.cond = nn.Sequential(nn.Linear(cond_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList(DiTBlock(dim, heads) for _ in range(depth))
        self.norm_out = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))
        self.out = nn.Linear(dim, patch * out_channels)
        for layer in (self.ada_out[1], self.out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(
        self, x_in: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        _check_chunk(x_in, self.horizon)
        c = self.time(c_noise) + self.cond(cond)
        batch = x_in.shape[0]
        h = self.inp(x_in.reshape(batch, self.horizon // self.patch, -1)) + self.pos
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.ada_out(c).chunk(2, dim=-1)
        return self.out(_modulate(self.norm_out(h), shift, scale)).reshape(batch, self.horizon, -1)


# --------------------------------------------------------------------------- inference


_TRACED: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()


def inference_call(
    decoder: nn.Module, x_in: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor
) -> torch.Tensor:
    """``decoder(x_in, c_noise, cond)`` without autograd, through a TorchScript trace of the
    decoder for these input shapes that shares its weights (so training and EMA updates show).

    A sampler calls the decoder 10-100 times per action chunk on a few tokens, where Python and
    operator dispatch cost more than the arithmetic: the trace runs the same operators with the
    same results in 40 % less time per call at batch 1 on 2 CPU threads. Traces are kept per
    decoder, per-sample shape, device, dtype and mode: the traced graphs read the batch size from
    their inputs, so one trace serves every batch (an evaluation's batch shrinks as its episodes
    end, and tracing each size anew cost more than the trace saved). A decoder that cannot be
    traced is called as it is.
    """
    if torch.is_grad_enabled():
        return decoder(x_in, c_noise, cond)
    key = (
        tuple(x_in.shape[1:]), tuple(cond.shape[1:]),
        x_in.device, x_in.dtype, cond.dtype, decoder.training,
    )  # fmt: skip
    traces = _TRACED.setdefault(decoder, {})
    traced = traces.get(key)
    if traced is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecation and tracer notes on a fixed shape
                traced = torch.jit.trace(decoder, (x_in, c_noise, cond), check_trace=False)
        except Exception:  # noqa: BLE001 - any tracing failure means: call the module itself
            traced = decoder
        traces[key] = traced
    return traced(x_in, c_noise, cond)


# --------------------------------------------------------------------------- temporal U-Net


class _ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int = 5, groups: int = 8):
        super().__init__(
            nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2),
            nn.GroupNorm(groups, c_out),
            nn.Mish(),
        )


class _FiLMResBlock(nn.Module):
    """Two conv blocks; the conditioning sets a per-channel scale and bias between them (FiLM)."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int):
        super().__init__()
        self.block1 = _ConvBlock(c_in, c_out)
        self.block2 = _ConvBlock(c_out, c_out)
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, 2 * c_out))
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        scale, bias = self.film(c)[:, :, None].chunk(2, dim=1)
        h = self.block1(x) * (1 + scale) + bias
        return self.block2(h) + self.skip(x)


class TemporalUNet(nn.Module):
    """1-D U-Net over the horizon axis with FiLM conditioning (Diffusion Policy's CNN decoder)."""

    def __init__(
        self,
        horizon: int,
        in_channels: int,
        out_channels: int,
        cond_dim: int,
        channels: tuple[int, ...] = (64, 128, 256),
        embed_dim: int = 128,
    ):
        super().__init__()
        if horizon % (2 ** (len(channels) - 1)):
            raise ValueError(
                f"horizon {horizon} must be divisible by 2^{len(channels) - 1} for this U-Net"
            )
        self.horizon = horizon
        self.time = NoiseEmbedding(embed_dim)
        c_dim = embed_dim + cond_dim
        dims = [in_channels, *channels]
        self.down = nn.ModuleList()
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            last = i == len(channels) - 1
            self.down.append(
                nn.ModuleList(
                    [
                        _FiLMResBlock(a, b, c_dim),
                        _FiLMResBlock(b, b, c_dim),
                        nn.Identity() if last else nn.Conv1d(b, b, 3, stride=2, padding=1),
                    ]
                )
            )
        self.mid = nn.ModuleList(
            [_FiLMResBlock(channels[-1], channels[-1], c_dim) for _ in range(2)]
        )
        self.up = nn.ModuleList()
        rev = list(reversed(channels))
        for a, b in zip(rev[:-1], rev[1:], strict=True):
            self.up.append(
                nn.ModuleList(
                    [
                        _FiLMResBlock(2 * a, b, c_dim),
                        _FiLMResBlock(b, b, c_dim),
                        nn.ConvTranspose1d(b, b, 4, stride=2, padding=1),
                    ]
                )
            )
        self.final = nn.Sequential(
            _ConvBlock(channels[0], channels[0]), nn.Conv1d(channels[0], out_channels, 1)
        )

    def forward(
        self, x_in: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        _check_chunk(x_in, self.horizon)
        c = torch.cat([self.time(c_noise), cond], dim=-1)
        h = x_in.transpose(1, 2)
        skips = []
        for res1, res2, down in self.down:
            h = res2(res1(h, c), c)
            skips.append(h)
            h = down(h)
        for res in self.mid:
            h = res(h, c)
        for res1, res2, up in self.up:
            h = torch.cat([h, skips.pop()], dim=1)
            h = up(res2(res1(h, c), c))
        return self.final(h).transpose(1, 2)


# --------------------------------------------------------------------------- encoders


class LowDimEncoder(nn.Module):
    """Flattened observation history (batch, n_obs, obs_dim) -> features via a 2-layer MLP."""

    def __init__(self, n_obs: int, obs_dim: int, out_dim: int = 256):
        super().__init__()
        self.out_dim = out_dim
        self.net = nn.Sequential(
            nn.Linear(n_obs * obs_dim, out_dim), nn.Mish(), nn.Linear(out_dim, out_dim)
        )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs.flatten(1))


def _replace_batchnorm(module: nn.Module, group_size: int = 16) -> nn.Module:
    """Swap every BatchNorm2d for GroupNorm with channels/16 groups (Diffusion Policy's choice)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            groups = max(1, child.num_features // group_size)
            setattr(module, name, nn.GroupNorm(groups, child.num_features))
        else:
            _replace_batchnorm(child, group_size)
    return module


class ImageEncoder(nn.Module):
    """ResNet-18 (random init, group norm) per frame + agent position, over n_obs frames.

    Input: images (batch, n_obs, 3, H, W) in [0, 1] and agent positions (batch, n_obs, 2) already
    normalised. Output: Linear(concat_i [resnet(I_i), pos_i]) of size ``out_dim``.
    """

    def __init__(self, n_obs: int, out_dim: int = 256):
        super().__init__()
        import torchvision

        backbone = torchvision.models.resnet18(weights=None)
        backbone.fc = nn.Identity()
        self.backbone = _replace_batchnorm(backbone)
        self.out_dim = out_dim
        self.proj = nn.Sequential(
            nn.Linear(n_obs * (512 + 2), out_dim), nn.Mish(), nn.Linear(out_dim, out_dim)
        )
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        self.register_buffer("img_mean", mean, persistent=False)
        self.register_buffer("img_std", std, persistent=False)
        self.channels_last = False

    def use_channels_last(self, enabled: bool = True) -> ImageEncoder:
        """Keep the ResNet's weights and activations in NHWC order (faster convolutions on GPU
        tensor cores); the outputs are the same to rounding."""
        self.channels_last = enabled
        self.backbone.to(memory_format=torch.channels_last if enabled else torch.contiguous_format)
        return self

    def forward(self, images: torch.Tensor, agent_pos: torch.Tensor) -> torch.Tensor:
        b, n = images.shape[:2]
        x = (images.flatten(0, 1) - self.img_mean) / self.img_std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        feats = self.backbone(x).reshape(b, n, -1)
        return self.proj(torch.cat([feats, agent_pos], dim=-1).flatten(1))


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class DecoderSize:
    """Hyper-parameters of a decoder size; ``kind`` is "dit" or "unet"."""

    kind: str
    dim: int = 128
    depth: int = 4
    heads: int = 4
    patch: int = 1
    channels: tuple[int, ...] = (64, 128, 256)
    cond_dim: int = 256


#: Named decoder sizes. "course" trains on a laptop CPU (one token per action); "course-p4", the same
#: transformer with one token per 4 actions, is the course recipe's; "paper" is the paper's ~9M DiT.
DECODER_SIZES: dict[str, DecoderSize] = {
    "course": DecoderSize("dit", dim=128, depth=4, heads=4, cond_dim=256),
    "course-p4": DecoderSize("dit", dim=128, depth=4, heads=4, patch=4, cond_dim=256),
    "tiny": DecoderSize("dit", dim=64, depth=2, heads=2, cond_dim=64),
    "paper": DecoderSize("dit", dim=256, depth=8, heads=8, cond_dim=512),
    "unet": DecoderSize("unet", channels=(64, 128, 256), cond_dim=256),
    "unet-small": DecoderSize("unet", channels=(32, 64, 128), cond_dim=128),
}


def build_decoder(size: str, horizon: int, in_channels: int, out_channels: int) -> nn.Module:
    """Instantiate a named decoder size (see ``DECODER_SIZES``)."""
    if size not in DECODER_SIZES:
        raise ValueError(f"unknown decoder size {size!r}; choose one of {sorted(DECODER_SIZES)}")
    cfg = DECODER_SIZES[size]
    if cfg.kind == "dit":
        return DiffusionTransformer(
            horizon,
            in_channels,
            out_channels,
            cfg.cond_dim,
            dim=cfg.dim,
            depth=cfg.depth,
            heads=cfg.heads,
            patch=cfg.patch,
        )
    return TemporalUNet(horizon, in_channels, out_channels, cfg.cond_dim, channels=cfg.channels)


def build_encoder(obs_type: str, n_obs: int, obs_dim: int, out_dim: int) -> nn.Module:
    """Encoder for an observation kind: "keypoints"/"state" (MLP) or "pixels" (ResNet-18)."""
    if obs_type in ("keypoints", "state"):
        return LowDimEncoder(n_obs, obs_dim, out_dim)
    if obs_type in ("pixels", "pixels_agent_pos"):
        return ImageEncoder(n_obs, out_dim)
    raise ValueError(f"unknown obs_type {obs_type!r}; choose 'keypoints', 'state' or 'pixels'")


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _check_chunk(x: torch.Tensor, horizon: int) -> None:
    if x.dim() != 3 or x.shape[1] != horizon:
        raise ValueError(
            f"expected an action chunk (batch, {horizon}, channels), got {tuple(x.shape)}"
        )
    if not torch.is_floating_point(x):
        raise TypeError(f"action chunk must be floating point, got {x.dtype}")


__all__ = [
    "DECODER_SIZES",
    "DecoderSize",
    "DiffusionTransformer",
    "ImageEncoder",
    "LowDimEncoder",
    "NoiseEmbedding",
    "TemporalUNet",
    "build_decoder",
    "build_encoder",
    "count_parameters",
]
