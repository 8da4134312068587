"""How long does the paper's V take before z holds where a small object is? V (worldsim's ConvVAE,
z 32) learns synthetic frames: one square of SIZE pixels, anywhere, on Pong's flat orange field,
the only thing that differs between frames, as Pong's paddles and ball are. Every --every steps
a ridge probe reads the square's position from V's mean z (fitted on 3,000 training frames,
scored as R^2 on 2,000 others; benchmarks/atari_v_objects.py's probe). Prints the curve, with the
CPU's capability, since the answer is a number of steps.

    python benchmarks/v_small_objects.py --size 6 --steps 1500 --lr 1e-3 --autoencoder
    python benchmarks/v_small_objects.py --size 2 --steps 3000 --foreground-weight 10
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from atari_v_objects import ridge_probe
from worldsim.apps.cli import run_main
from worldsim.data.frames import foreground_weights
from worldsim.models.vae import ConvVAE, frames_to_tensor, vae_loss

FIELD, OBJECT = (144, 72, 17), (92, 186, 92)
"""Pong's field and its agent's paddle, RGB."""


def square_frames(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n frames (n, 64, 64, 3) uint8 of one size x size square on the field, and its (row, column)."""
    frames = np.empty((n, 64, 64, 3), np.uint8)
    frames[:] = FIELD
    where = rng.integers(0, 64 - size + 1, (n, 2))
    for frame, (row, col) in zip(frames, where):
        frame[row : row + size, col : col + size] = OBJECT
    return frames, where.astype(np.float64)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=6, help="the square's side in pixels (default 6)")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--every", type=int, default=250, help="steps between probes")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default: the paper's 1e-4)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--autoencoder", action="store_true",
                        help="decode z = mean with no KL term: V as a plain autoencoder")
    parser.add_argument("--foreground-weight", type=float, default=1.0, help="as vae.foreground_weight")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train, _ = square_frames(20_000, args.size, rng)
    probe_train, y_train = square_frames(3000, args.size, rng)
    probe_held, y_held = square_frames(2000, args.size, rng)
    background = frames_to_tensor(np.array(FIELD, np.uint8)[None, None, None].repeat(64, 1).repeat(64, 2))
    model = ConvVAE(z_dim=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    print(f"square {args.size}x{args.size}, {'autoencoder' if args.autoencoder else 'VAE (paper loss)'}, "
          f"lr {args.lr:g}, foreground weight {args.foreground_weight:g}, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print("| step | seconds | reconstruction (summed per frame) | KL (nats) | position R^2 from z, held out |")
    print("|---:|---:|---:|---:|---:|")
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        model.train()
        x = frames_to_tensor(train[rng.integers(0, len(train), args.batch_size)])
        mu, logvar = model.encode(x)
        z = mu if args.autoencoder else mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        weights = None
        if args.foreground_weight != 1.0:
            weights = foreground_weights(x, background, args.foreground_weight)
        loss, rec, kl = vae_loss(model.decode(z), x, mu, logvar, 0.5, weights, 0.0 if args.autoencoder else 1.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % args.every == 0 or step == args.steps:
            model.eval()
            with torch.no_grad():
                z_train = model.encode(frames_to_tensor(probe_train))[0].numpy()
                z_held = model.encode(frames_to_tensor(probe_held))[0].numpy()
            r2 = ridge_probe(z_train, y_train, z_held, y_held)["r2"]
            print(f"| {step} | {time.perf_counter() - start:.0f} | {rec.item():.2f} | {kl.item():.1f} | {r2:.3f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    run_main(main)
