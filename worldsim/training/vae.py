"""Train V (the conv VAE) on recorded frames, streamed from disk; resumable per epoch. Writes a
PNG of held-out frames beside their reconstructions after every epoch."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from worldsim.checkpoint import save_checkpoint
from worldsim.config import Config
from worldsim.data.episodes import iter_valid_episodes, list_episodes, split_episodes
from worldsim.data.frames import count_frames, iter_frame_batches
from worldsim.logger import ScalarLogger
from worldsim.media import image_grid, save_png
from worldsim.models.vae import ConvVAE, frames_to_tensor, tensor_to_frames, vae_loss
from worldsim.run import RunDir
from worldsim.training import check_finite, resume

VAL_FRAMES = 2000


def held_out_frames(paths: list[Path], limit: int = VAL_FRAMES) -> np.ndarray:
    """Up to `limit` frames from held-out episodes, the same every time (for comparable losses)."""
    frames, total = [], 0
    for _, ep in iter_valid_episodes(paths, ("frames", "actions")):
        frames.append(ep.frames[: limit - total])
        total += len(frames[-1])
        if total >= limit:
            break
    return np.concatenate(frames)


@torch.no_grad()
def evaluate_vae(model: ConvVAE, frames: np.ndarray, kl_tolerance: float, device, batch: int = 250) -> dict:
    """Held-out loss with z = mu (no sampling noise), averaged per frame."""
    model.eval()
    sums = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0}
    for start in range(0, len(frames), batch):
        x = frames_to_tensor(frames[start : start + batch], device)
        mu, logvar = model.encode(x)
        _, rec, kl = vae_loss(model.decode(mu), x, mu, logvar, kl_tolerance)
        sums["reconstruction"] += rec.item() * len(x)
        sums["kl"] += kl.item() * len(x)
    out = {k: v / len(frames) for k, v in sums.items()}
    out["loss"] = out["reconstruction"] + out["kl"]
    return out


def train_vae(run: RunDir, cfg: Config, device: torch.device, progress: bool = True) -> dict:
    vc = cfg.vae
    torch.manual_seed(cfg.seed)
    train_paths, val_paths = split_episodes(list_episodes(run.episodes), vc.val_fraction, cfg.seed)
    val_frames = held_out_frames(val_paths)
    model = ConvVAE(vc.z_dim, vc.channels).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=vc.lr)
    ckpt = resume(run.vae_checkpoint, "vae", cfg.env, model, optimizer, vc.lr)
    if ckpt:
        start_epoch, history = ckpt["state"]["epoch"], ckpt["meta"]["history"]
    else:
        start_epoch, history = 0, {"untrained": evaluate_vae(model, val_frames, vc.kl_tolerance, device)}
    n_train = count_frames(train_paths)
    steps_per_epoch = -(-n_train // vc.batch_size)
    with ScalarLogger(run.logs, "vae") as log:
        for epoch in range(start_epoch, vc.epochs):
            model.train()
            rng = np.random.default_rng([cfg.seed, epoch])
            seen, t0 = 0, time.perf_counter()
            bar = tqdm(
                iter_frame_batches(train_paths, vc.batch_size, vc.buffer_episodes, rng),
                total=steps_per_epoch, desc=f"V epoch {epoch + 1}/{vc.epochs}", unit="batch", disable=not progress,
            )
            for i, batch in enumerate(bar):
                x = frames_to_tensor(batch, device)
                recon, mu, logvar = model(x)
                loss, rec, kl = vae_loss(recon, x, mu, logvar, vc.kl_tolerance)
                step = epoch * steps_per_epoch + i
                check_finite(loss.item(), "V", step, run.vae_checkpoint)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                seen += len(x)
                if i % 20 == 0:
                    log.log(step, loss=loss.item(), reconstruction=rec.item(), kl=kl.item())
                    bar.set_postfix(loss=f"{loss.item():.1f}")
            seconds = time.perf_counter() - t0
            val = evaluate_vae(model, val_frames, vc.kl_tolerance, device)
            log.log((epoch + 1) * steps_per_epoch, **{f"val_{k}": v for k, v in val.items()})
            history[f"epoch_{epoch + 1}"] = {**val, "images_per_second": seen / seconds, "seconds": seconds}
            save_png(run.vae_reconstructions, reconstruction_grid(model, val_frames, device))
            _save(run, cfg, model, optimizer, epoch + 1, history)
    last = history.get(f"epoch_{vc.epochs}", {})
    return {
        "val_loss": last.get("loss"),
        "val_reconstruction": last.get("reconstruction"),
        "val_kl": last.get("kl"),
        "val_loss_untrained": history["untrained"]["loss"],
        "images_per_second": last.get("images_per_second"),
        "train_frames": n_train,
        "val_frames": len(val_frames),
        "reconstructions": "vae_reconstructions.png",
    }


@torch.no_grad()
def reconstruction_grid(model: ConvVAE, frames: np.ndarray, device, n: int = 10) -> np.ndarray:
    """Top row: held-out frames; bottom row: V's reconstructions from z = mu."""
    model.eval()
    picks = frames[np.linspace(0, len(frames) - 1, n).astype(int)]
    mu, _ = model.encode(frames_to_tensor(picks, device))
    return image_grid([picks, tensor_to_frames(model.decode(mu))], scale=2)


def _save(run: RunDir, cfg: Config, model, optimizer, epoch: int, history: dict) -> None:
    save_checkpoint(
        run.vae_checkpoint,
        kind="vae",
        env=cfg.env,
        model=model.state_dict(),
        meta={"z_dim": cfg.vae.z_dim, "channels": cfg.vae.channels, "config": cfg.to_dict(), "history": history},
        state={"epoch": epoch, "optimizer": optimizer.state_dict()},
    )
