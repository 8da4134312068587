"""Encode every episode once with V into (mu, logvar) series stored beside the episodes
(latents/ep_NNNNNN.npz), so M trains without running V again each epoch."""
from __future__ import annotations

import hashlib
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from worldsim.data.episodes import EpisodeError, list_episodes, load_episode
from worldsim.io import atomic_write_with, remove_stale_temporaries
from worldsim.models.vae import ConvVAE, frames_to_tensor, load_vae
from worldsim.run import RunDir


def file_fingerprint(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@torch.no_grad()
def encode_frames(vae: ConvVAE, frames: np.ndarray, device, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    mus, logvars = [], []
    for start in range(0, len(frames), batch):
        mu, logvar = vae.encode(frames_to_tensor(frames[start : start + batch], device))
        mus.append(mu.cpu().numpy())
        logvars.append(logvar.cpu().numpy())
    return np.concatenate(mus), np.concatenate(logvars)


def encode_run(run: RunDir, env: str, device: torch.device, progress: bool = True) -> dict:
    vae = load_vae(run.vae_checkpoint, env=env, device=device)
    vae_id = file_fingerprint(run.vae_checkpoint)
    run.latents.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(run.latents)
    episodes = list_episodes(run.episodes)
    encoded = skipped = frames = 0
    t0 = time.perf_counter()
    for path in tqdm(episodes, desc="encode", unit="ep", disable=not progress):
        out = run.latents / path.name
        if out.is_file() and _encoded_by(out) == vae_id:
            continue
        try:
            ep = load_episode(path)
        except EpisodeError as exc:
            skipped += 1
            tqdm.write(f"skipping {exc}")
            continue
        mu, logvar = encode_frames(vae, ep.frames, device)
        arrays = dict(
            mu=mu, logvar=logvar, actions=ep.actions, rewards=ep.rewards,
            terminated=ep.terminated, vae_id=np.array(vae_id),
        )
        atomic_write_with(out, lambda f: np.savez(f, **arrays))
        encoded += 1
        frames += len(ep.frames)
    seconds = time.perf_counter() - t0
    return {
        "episodes_encoded": encoded,
        "episodes_skipped": skipped,
        "frames_per_second": frames / seconds if frames else None,
        "vae_id": vae_id,
    }


def _encoded_by(path: Path) -> str | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["vae_id"])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


