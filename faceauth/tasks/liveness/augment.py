"""Image augmentation for liveness, batched in torch on the training device (GPU when there is one).

One `strength` in [0, 1] scales every transform (0: the input unchanged). The transforms imitate how
the same presentation looks through other cameras and conditions; several of them (blur, JPEG) also
wash out the fine cues that tell an attack apart (halftone, moiré, skin texture), so how strong the
augmentation may be is a trade-off the search decides (`augment_strength` in search_spaces/liveness.yaml).

At strength s, per sample:
- random resized crop: area in [1 - 0.5 s, 1], aspect ratio within exp(+-0.25 s); horizontal flip
  with probability 0.5 min(1, 2 s); one affine resampling (bilinear) for both;
- Gaussian blur with probability 0.5, sigma up to 1.5 s pixels at 64 px (scaled with the image size);
- lighting: gamma, contrast and brightness, each a factor exp(U(-1, 1) * 0.35 s) (gamma 0.4 s);
- colour jitter: saturation exp(U(-1, 1) * 0.4 s) and per-channel gains exp(U(-1, 1) * 0.08 s);
- JPEG re-compression with probability 0.5 at quality U(95 - 65 s, 95): 8x8 block DCT of YCbCr,
  quantised with the standard IJG tables at that quality. Approximation: no 4:2:0 chroma subsampling
  and no entropy coding (lossless anyway); the blocking and ringing that JPEG leaves are reproduced.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ITU-T T.81 Annex K: the luminance and chrominance quantisation tables at quality 50.
_LUMA_TABLE = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]
_CHROMA_TABLE = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, *[99] * 32,
]
# RGB <-> YCbCr (JFIF, full range).
_RGB_TO_YCBCR = [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]]


def _uniform(n: int, low: float, high: float, generator: torch.Generator | None, device) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def _symmetric_log_factor(n: int, spread: float, generator, device) -> torch.Tensor:
    """exp(U(-spread, spread)): a multiplicative factor around 1, as likely to shrink as to grow."""
    return torch.exp(_uniform(n, -spread, spread, generator, device))


def crop_and_flip(x: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random resized crop and horizontal flip as one batched affine resampling (affine_grid)."""
    n, device = x.shape[0], x.device
    area = _uniform(n, 1 - 0.5 * strength, 1.0, generator, device)
    aspect = _symmetric_log_factor(n, 0.25 * strength, generator, device)
    width, height = torch.sqrt(area * aspect).clamp(max=1), torch.sqrt(area / aspect).clamp(max=1)
    shift_x = _uniform(n, -1, 1, generator, device) * (1 - width)  # keep the crop inside the image
    shift_y = _uniform(n, -1, 1, generator, device) * (1 - height)
    flip = torch.rand(n, generator=generator, device=device) < 0.5 * min(1.0, 2 * strength)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = torch.where(flip, -width, width)
    theta[:, 0, 2] = shift_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = shift_y
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, max_sigma: float) -> torch.Tensor:
    """Per-sample Gaussian blur (sigma (N,) in pixels, at most `max_sigma`; 0 leaves a sample as it
    is), separable, as grouped convolutions over the whole batch at once. The kernel size comes from
    `max_sigma`, not sigma.max(): no device-to-host sync on a GPU."""
    n, c, h, w = x.shape
    radius = max(1, math.ceil(3 * max_sigma))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    taps = torch.exp(-0.5 * (offsets[None, :] / sigma.clamp(min=1e-3)[:, None]) ** 2)
    taps = (taps / taps.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (n*c, 2r+1)
    flat = x.reshape(1, n * c, h, w)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), taps[:, None, None, :], groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), taps[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, h, w)


def lighting(x: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Gamma, then contrast around each image's mean, then brightness."""
    n, device = x.shape[0], x.device
    gamma = _symmetric_log_factor(n, 0.4 * strength, generator, device).view(n, 1, 1, 1)
    contrast = _symmetric_log_factor(n, 0.35 * strength, generator, device).view(n, 1, 1, 1)
    brightness = _symmetric_log_factor(n, 0.35 * strength, generator, device).view(n, 1, 1, 1)
    x = x.clamp(min=1e-6) ** gamma
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * contrast + mean) * brightness


def colour_jitter(x: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Saturation (blend with the luma image) and per-channel gains (white balance)."""
    n, device = x.shape[0], x.device
    saturation = _symmetric_log_factor(n, 0.4 * strength, generator, device).view(n, 1, 1, 1)
    gains = torch.exp(0.08 * strength * (2 * torch.rand(n, 3, generator=generator, device=device) - 1)).view(n, 3, 1, 1)
    luma = (x * torch.tensor([0.299, 0.587, 0.114], device=device, dtype=x.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return (luma + (x - luma) * saturation) * gains


def _dct_matrix(device, dtype) -> torch.Tensor:
    """The orthonormal 8-point DCT-II: coefficients = D @ block @ D.T."""
    k = torch.arange(8, device=device, dtype=dtype)
    d = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d


def _quantisation_tables(quality: torch.Tensor) -> torch.Tensor:
    """(N, 3, 1, 1, 8, 8) tables at each sample's quality (1..100), by the IJG (libjpeg) scaling."""
    base = torch.tensor([_LUMA_TABLE, _CHROMA_TABLE, _CHROMA_TABLE], device=quality.device, dtype=quality.dtype)
    scale = torch.where(quality < 50, 5000 / quality, 200 - 2 * quality).view(-1, 1, 1)
    tables = torch.floor((base[None] * scale[:, None] + 50) / 100).clamp(1, 255)
    return tables.view(-1, 3, 1, 1, 8, 8)


def jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG compression and decompression of images in [0, 1] at per-sample `quality` (N,)."""
    n, c, h, w = x.shape
    matrix = torch.tensor(_RGB_TO_YCBCR, device=x.device, dtype=x.dtype)
    ycc = torch.einsum("ij,njhw->nihw", matrix, x * 255)
    ycc[:, 0] -= 128  # level shift of JPEG; Cb and Cr are centred on 0 already
    pad_h, pad_w = (-h) % 8, (-w) % 8
    ycc = F.pad(ycc, (0, pad_w, 0, pad_h), mode="replicate")
    blocks = ycc.unflatten(2, (-1, 8)).unflatten(4, (-1, 8)).transpose(3, 4)  # (N, 3, H/8, W/8, 8, 8)
    d = _dct_matrix(x.device, x.dtype)
    tables = _quantisation_tables(quality.to(x.dtype))
    coefficients = torch.round(d @ blocks @ d.T / tables) * tables
    blocks = d.T @ coefficients @ d
    ycc = blocks.transpose(3, 4).flatten(4, 5).flatten(2, 3)[:, :, :h, :w]
    ycc[:, 0] += 128
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(matrix), ycc) / 255


def augment(x: torch.Tensor, strength: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment a batch of RGB images (N, 3, H, W) in [0, 1] on their device; returns the same shape."""
    if strength <= 0:
        return x
    n, device = x.shape[0], x.device
    x = crop_and_flip(x, strength, generator)
    max_sigma = 1.5 * strength * x.shape[-1] / 64
    blurred = torch.rand(n, generator=generator, device=device) < 0.5
    x = gaussian_blur(x, _uniform(n, 0, max_sigma, generator, device) * blurred, max_sigma)
    x = colour_jitter(lighting(x, strength, generator), strength, generator).clamp(0, 1)
    compressed = torch.rand(n, generator=generator, device=device) < 0.5
    quality = _uniform(n, 95 - 65 * strength, 95, generator, device)
    x = torch.where(compressed.view(n, 1, 1, 1), jpeg(x, quality), x)
    return x.clamp(0, 1)
