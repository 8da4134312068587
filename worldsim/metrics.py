"""Image quality of predicted frames against real ones, per frame: PSNR and SSIM (Wang et al.
2004: 11x11 Gaussian window with sigma 1.5, C1 = (0.01 L)^2, C2 = (0.03 L)^2, the SSIM map
taken over the window's valid positions, averaged over pixels and then over channels; the same
numbers as skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=L, channel_axis=...))."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

PSNR_CAP_DB = 100.0
"""PSNR of identical frames (their MSE is 0, the PSNR infinite): capped so that means stay finite."""


def as_float_frames(x) -> torch.Tensor:
    """uint8 frames are scaled to [0, 1] (float32); float frames are taken as they are."""
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        return x.float().div(255.0)
    return x if x.is_floating_point() else x.float()


def mse(a, b) -> torch.Tensor:
    """Mean squared error of each frame: (..., C, H, W) -> (...)."""
    a, b = as_float_frames(a), as_float_frames(b)
    return (a - b).pow(2).mean(dim=(-3, -2, -1))


def psnr(a, b, data_range: float = 1.0, max_db: float | None = PSNR_CAP_DB) -> torch.Tensor:
    """Peak signal-to-noise ratio of each frame in dB, 10 log10(L^2 / MSE): (..., C, H, W) -> (...).
    Identical frames give max_db (None: inf)."""
    err = mse(a, b)
    value = 10.0 * torch.log10(data_range**2 / err)
    return value if max_db is None else value.clamp(max=max_db)


def gaussian_window(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian of `size` taps."""
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()


def ssim(a, b, data_range: float = 1.0, window: int = 11, sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03) -> torch.Tensor:
    """Structural similarity of each frame: (..., C, H, W) -> (...), 1 for identical frames."""
    a, b = as_float_frames(a), as_float_frames(b)
    if a.shape != b.shape:
        raise ValueError(f"ssim of frames shaped {tuple(a.shape)} and {tuple(b.shape)}")
    *lead, c, h, w = a.shape
    if h < window or w < window:
        raise ValueError(f"ssim needs frames of at least {window}x{window}, got {h}x{w}")
    x, y = a.reshape(-1, c, h, w), b.reshape(-1, c, h, w)
    g = gaussian_window(window, sigma, a.device).to(a.dtype)
    kernel_h = g.view(1, 1, window, 1).expand(c, 1, window, 1)
    kernel_w = g.view(1, 1, 1, window).expand(c, 1, 1, window)

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable Gaussian, valid positions only
        return F.conv2d(F.conv2d(t, kernel_h, groups=c), kernel_w, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.mean(dim=(-3, -2, -1)).reshape(lead)


def psnr_of_mse(value: float, data_range: float = 1.0) -> float:
    """PSNR in dB of a mean squared error (capped like psnr)."""
    return PSNR_CAP_DB if value <= 0 else min(PSNR_CAP_DB, 10.0 * math.log10(data_range**2 / value))
