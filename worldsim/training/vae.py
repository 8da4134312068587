"""Train V (the conv VAE) on recorded frames, streamed from disk; resumable per epoch. Writes a
PNG of held-out frames beside their reconstructions after every epoch."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from worldsim.checkpoint import save_checkpoint
from worldsim.config import Config
from worldsim.data.episodes import iter_valid_episodes, list_episodes, split_episodes
from worldsim.data.frames import (BACKGROUND_FRAMES, background_frame, count_frames, foreground_mask,
                                  foreground_weights, iter_frame_batches)
from worldsim.media import image_grid, save_png
from worldsim.models.vae import ConvVAE, frames_to_tensor, tensor_to_frames, vae_loss
from worldsim.run import RunDir
from worldsim.training import resume
from worldsim.training.loop import Schedule, train

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
def evaluate_vae(model: ConvVAE, frames: np.ndarray, kl_tolerance: float, device, batch: int = 250,
                 background: torch.Tensor | None = None) -> dict:
    """Held-out loss with z = mu (no sampling noise), averaged per frame: the paper's unweighted
    reconstruction + KL, whatever weights training used. With a `background` ((1, 3, 64, 64) in
    [0, 1]) also the mean squared error per foreground pixel and channel, `foreground_mse`."""
    model.eval()
    sums = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0}
    foreground_error, foreground_pixels = 0.0, 0
    for start in range(0, len(frames), batch):
        x = frames_to_tensor(frames[start : start + batch], device)
        mu, logvar = model.encode(x)
        recon = model.decode(mu)
        _, rec, kl = vae_loss(recon, x, mu, logvar, kl_tolerance, positions=model.positions)
        sums["reconstruction"] += rec.item() * len(x)
        sums["kl"] += kl.item() * len(x)
        if background is not None:
            mask = foreground_mask(x, background)
            foreground_error += ((recon - x).pow(2) * mask).sum().item()
            foreground_pixels += int(mask.sum().item()) * 3
    out = {k: v / len(frames) for k, v in sums.items()}
    out["loss"] = out["reconstruction"] + out["kl"]
    if background is not None:
        out["foreground_mse"] = foreground_error / max(1, foreground_pixels)
    return out


class VAETraining:
    """V as a worldsim.training.loop trainee: one step is one batch of training frames, streamed
    epoch by epoch in an order seeded by the epoch; held-out scores, the reconstruction picture
    and the checkpoint come at each epoch's end."""

    label, log_name, finite, shown = "V", "vae", ("loss",), ("loss",)

    def __init__(self, run: RunDir, cfg: Config, device: torch.device):
        self.run, self.cfg, self.vc, self.device = run, cfg, cfg.vae, device
        self.checkpoint = run.vae_checkpoint
        torch.manual_seed(cfg.seed)
        self.train_paths, val_paths = split_episodes(list_episodes(run.episodes), self.vc.val_fraction, cfg.seed)
        self.val_frames = held_out_frames(val_paths)
        self.background = None  # (1, 3, 64, 64) in [0, 1], where foreground pixels are weighted or subtracted
        if self.vc.foreground_weight != 1.0 or self.vc.background_gain:
            frame = background_frame(self.train_paths, BACKGROUND_FRAMES, np.random.default_rng(cfg.seed))
            self.background = frames_to_tensor(frame[None], device)
        self.model = ConvVAE(self.vc.z_dim, self.vc.channels, self.vc.background_gain, self.vc.keypoints).to(device)
        if self.vc.background_gain:
            self.model.set_background(self.background)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.vc.lr)
        self.train_frames = count_frames(self.train_paths)
        self.steps_per_epoch = -(-self.train_frames // self.vc.batch_size)
        self.batches, self.seen, self.epoch_start = None, 0, 0.0

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.vc.epochs * self.steps_per_epoch, self.steps_per_epoch, 20)

    def resume(self) -> tuple[int, dict] | None:
        ckpt = resume(self.checkpoint, "vae", self.cfg.env, self.model, self.optimizer, self.vc.lr)
        return (ckpt["state"]["epoch"] * self.steps_per_epoch, ckpt["meta"]["history"]) if ckpt else None

    def untrained(self) -> dict:
        return evaluate_vae(self.model, self.val_frames, self.vc.kl_tolerance, self.device,
                            background=self.background)

    def step(self, step: int) -> dict[str, float]:
        if step % self.steps_per_epoch == 0:  # a new epoch: its own shuffled pass over the frames
            rng = np.random.default_rng([self.cfg.seed, step // self.steps_per_epoch])
            self.batches = iter_frame_batches(self.train_paths, self.vc.batch_size, self.vc.buffer_episodes, rng)
            self.seen, self.epoch_start = 0, time.perf_counter()
        self.model.train()
        x = frames_to_tensor(next(self.batches), self.device)
        recon, mu, logvar = self.model(x)
        weights = None
        if self.vc.foreground_weight != 1.0:
            weights = foreground_weights(x, self.background, self.vc.foreground_weight)
        loss, rec, kl = vae_loss(recon, x, mu, logvar, self.vc.kl_tolerance, weights, self.vc.kl_weight,
                                 self.model.positions)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.seen += len(x)
        return {"loss": loss.item(), "reconstruction": rec.item(), "kl": kl.item()}

    def evaluate(self, step: int, history: dict) -> dict[str, float]:
        seconds = time.perf_counter() - self.epoch_start
        val = evaluate_vae(self.model, self.val_frames, self.vc.kl_tolerance, self.device, background=self.background)
        history[f"epoch_{step // self.steps_per_epoch}"] = {**val, "images_per_second": self.seen / seconds,
                                                            "seconds": seconds}
        save_png(self.run.vae_reconstructions, reconstruction_grid(self.model, self.val_frames, self.device))
        return {f"val_{k}": v for k, v in val.items()}

    def save(self, step: int, history: dict) -> None:
        save_checkpoint(
            self.checkpoint,
            kind="vae",
            env=self.cfg.env,
            model=self.model.state_dict(),
            meta={**self.model.spec(), "config": self.cfg.to_dict(),
                  "history": history},
            state={"epoch": step // self.steps_per_epoch, "optimizer": self.optimizer.state_dict()},
        )

    def report(self, history: dict) -> dict:
        last = history.get(f"epoch_{self.vc.epochs}", {})
        return {
            "val_loss": last.get("loss"),
            "val_reconstruction": last.get("reconstruction"),
            "val_kl": last.get("kl"),
            "val_foreground_mse": last.get("foreground_mse"),
            "val_loss_untrained": history["untrained"]["loss"],
            "images_per_second": last.get("images_per_second"),
            "train_frames": self.train_frames,
            "val_frames": len(self.val_frames),
            "reconstructions": self.run.vae_reconstructions.name,
        }


def train_vae(run: RunDir, cfg: Config, device: torch.device, progress: bool = True) -> dict:
    """The pipeline's vae stage: V trained for vae.epochs passes over the training episodes."""
    trainee = VAETraining(run, cfg, device)
    return trainee.report(train(trainee, trainee.schedule, run.logs, progress))


@torch.no_grad()
def reconstruction_grid(model: ConvVAE, frames: np.ndarray, device, n: int = 10) -> np.ndarray:
    """Top row: held-out frames; bottom row: V's reconstructions from z = mu."""
    model.eval()
    picks = frames[np.linspace(0, len(frames) - 1, n).astype(int)]
    mu, _ = model.encode(frames_to_tensor(picks, device))
    return image_grid([picks, tensor_to_frames(model.decode(mu))], scale=2)
