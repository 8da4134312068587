"""Open-loop and one-step scores: a model's generated frames against the real ones, per step
(PSNR, SSIM, MSE), and their summaries at the reported horizons."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from worldsim.apps.compare.predictors import to_uint8
from worldsim.metrics import mse, psnr, ssim

HORIZONS = (1, 8, 16, 32)


def _batched(fn: Callable[..., torch.Tensor], tensors: tuple[torch.Tensor, ...], batch: int, device,
             desc: str, progress: bool) -> torch.Tensor:
    """fn over batches of uint8/long CPU tensors moved to `device`; uint8 (rounded) results on the CPU."""
    out = []
    n = len(tensors[0])
    for start in tqdm(range(0, n, batch), desc=desc, unit="batch", disable=not progress, leave=False):
        args = [t[start : start + batch].to(device) for t in tensors]
        args = [a.float().div(255.0) if a.dtype == torch.uint8 else a for a in args]
        out.append(to_uint8(fn(*args)).cpu())
    return torch.cat(out)


def per_step_scores(pred: torch.Tensor, real: torch.Tensor, batch: int = 256) -> dict[str, np.ndarray]:
    """uint8 (n, T, 3, H, W) each -> {'psnr', 'ssim', 'mse'}: (n, T) arrays."""
    scores = {"psnr": [], "ssim": [], "mse": []}
    flat_p, flat_r = pred.flatten(0, 1), real.flatten(0, 1)
    for start in range(0, len(flat_p), batch):
        p, r = flat_p[start : start + batch], flat_r[start : start + batch]
        scores["psnr"].append(psnr(p, r))
        scores["ssim"].append(ssim(p, r))
        scores["mse"].append(mse(p, r))
    return {k: torch.cat(v).view(pred.shape[:2]).numpy().astype(np.float64) for k, v in scores.items()}


def summarise(scores: dict[str, np.ndarray], horizons: list[int]) -> dict:
    """Per-step means over clips, and mean/std at each horizon."""
    out = {f"{k}_by_step": scores[k].mean(axis=0).round(5).tolist() for k in ("psnr", "ssim", "mse")}
    for k in ("psnr", "ssim"):
        out[f"{k}_at"] = {str(h): round(float(scores[k][:, h - 1].mean()), 4) for h in horizons}
        out[f"{k}_std_at"] = {str(h): round(float(scores[k][:, h - 1].std()), 4) for h in horizons}
    return out
