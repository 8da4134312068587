"""Throughput of the World Models stages on this machine, side by side in one run:
collection frames/s per game (parallel game processes), V training images/s and M training
steps/s at the `default` preset's sizes.

    python benchmarks/throughput.py [--episodes 8] [--seconds 20] [--out docs/throughput.json]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

import envs
from worldsim.config import make_config, resolve
from agents.collect import collect
from worldsim.data.episodes import list_episodes, load_episode
from worldsim.models.vae import ConvVAE, frames_to_tensor, vae_loss
from worldsim.training.mdnrnn import build_mdnrnn
from worldsim.models.mdnrnn import mdn_nll


def collection_rate(name: str, episodes: int, max_steps: int, folder: str) -> tuple[float, np.ndarray]:
    stats = collect(name, folder, episodes, max_steps=max_steps, progress=False)
    frames = np.concatenate([load_episode(p).frames for p in list_episodes(folder)])
    return stats["frames_recorded"] / stats["seconds"], frames


def vae_rate(cfg, frames: np.ndarray, seconds: float) -> float:
    model = ConvVAE(cfg.vae.z_dim, cfg.vae.channels)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.vae.lr)
    rng = np.random.default_rng(0)
    seen, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x = frames_to_tensor(frames[rng.integers(len(frames), size=cfg.vae.batch_size)])
        recon, mu, logvar = model(x)
        loss = vae_loss(recon, x, mu, logvar, cfg.vae.kl_tolerance)[0]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(x)
    return seen / (time.perf_counter() - start)


def mdnrnn_rate(cfg, seconds: float) -> float:
    model = build_mdnrnn(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.mdnrnn.lr)
    b, t, z = cfg.mdnrnn.batch_size, cfg.mdnrnn.seq_len, cfg.vae.z_dim
    space = envs.info(cfg.env).action_space
    space.seed(0)
    actions = torch.as_tensor(np.stack([[space.sample() for _ in range(t)] for _ in range(b)]))  # drawn once
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        out, _ = model(torch.randn(b, t, z), actions)
        loss = mdn_nll(out, torch.randn(b, t, z)).mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        steps += 1
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", default=["Doom", "CarRacing", "Atari/Pong"])
    parser.add_argument("--episodes", type=int, default=8, help="episodes recorded per game")
    parser.add_argument("--max-steps", type=int, default=500, help="cap per recorded episode")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each training measurement")
    parser.add_argument("--out", help="also write the numbers as JSON here")
    args = parser.parse_args()
    results = {"cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "games": {}}
    print("| game | collection frames/s | V images/s (z, width) | M steps/s (LSTM, batch x seq) |")
    print("|---|---:|---:|---:|")
    for name in args.games:
        cfg = resolve(make_config(name, "default"), envs.info(name))
        with tempfile.TemporaryDirectory() as folder:
            collected, frames = collection_rate(name, args.episodes, args.max_steps, folder)
        images = vae_rate(cfg, frames, args.seconds)
        steps = mdnrnn_rate(cfg, args.seconds)
        results["games"][name] = {"collect_frames_per_second": collected, "vae_images_per_second": images,
                                  "mdnrnn_steps_per_second": steps, "z_dim": cfg.vae.z_dim,
                                  "vae_channels": cfg.vae.channels, "hidden": cfg.mdnrnn.hidden,
                                  "batch": cfg.mdnrnn.batch_size, "seq_len": cfg.mdnrnn.seq_len}
        print(f"| {name} | {collected:,.0f} | {images:,.0f} ({cfg.vae.z_dim}, {cfg.vae.channels}) | "
              f"{steps:.1f} ({cfg.mdnrnn.hidden}, {cfg.mdnrnn.batch_size}x{cfg.mdnrnn.seq_len}) |")
    if args.out:
        from worldsim.io import write_json

        write_json(args.out, results)


if __name__ == "__main__":
    main()
