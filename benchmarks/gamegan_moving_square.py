"""Does GameGAN's generator read the frame it is given? A synthetic check: a 12x12 white square
on black, actions left / stay / right moving it 4 pixels. The generator is trained on
reconstruction alone (every step teacher-forced: it always reads the real x_t), and its held-out
one-step error is printed beside copying x_t as x_{t+1}. With --autoencoder, the same frame
encoder and simple renderer are trained to reproduce x_t instead, as a check that they can
carry the square's position at all.

    python benchmarks/gamegan_moving_square.py --steps 1500
    python benchmarks/gamegan_moving_square.py --steps 400 --autoencoder
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from worldsim.config import GameGANConfig
from worldsim.models.gamegan import GameGAN

SIDE, MOVE = 12, 4


def clips(n: int, steps: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, steps + 1, 3, 64, 64) frames in [0, 1] and (n, steps) actions 0 left, 1 stay, 2 right."""
    frames = np.zeros((n, steps + 1, 3, 64, 64), np.float32)
    actions = rng.integers(0, 3, (n, steps))
    x, y = rng.integers(8, 44, n), rng.integers(8, 44, n)
    for t in range(steps + 1):
        for i in range(n):
            frames[i, t, :, y[i]:y[i] + SIDE, x[i]:x[i] + SIDE] = 1.0
        if t < steps:
            x = np.clip(x + (actions[:, t] - 1) * MOVE, 0, 64 - SIDE)
    return torch.tensor(frames), torch.tensor(actions)


def summed_error(pred: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """0.05 x squared error summed over each frame's pixels, averaged over frames (the released
    GameGAN code's reconstruction scale)."""
    return ((pred - real) ** 2).sum(dim=(-3, -2, -1)).mean() * 0.05


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--autoencoder", action="store_true", help="train encoder + renderer to reproduce x_t")
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg = GameGANConfig(channels=8, hidden=128, noise_dim=4, action_embed=8, memory=False, renderer="simple")
    model = GameGAN(cfg, 3, True)
    encoder, renderer = model.dynamics.encode, model.renderer
    params = [*encoder.parameters(), *renderer.parameters()] if args.autoencoder else model.parameters()
    optimizer = torch.optim.Adam(params, lr=args.lr)
    rng, (held_frames, held_actions) = np.random.default_rng(0), clips(64, 4, np.random.default_rng(1))
    copy = ((held_frames[:, :-1] - held_frames[:, 1:]) ** 2).mean().item()

    def predict(frames, actions):
        if args.autoencoder:
            x = frames[:, :-1].flatten(0, 1)
            return renderer(encoder(x), None)["frame"], x
        out = model.rollout(frames, actions, warm_up=actions.shape[1], noise=torch.zeros(*actions.shape, 4))
        return out["frames"], frames[:, 1:]

    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}; "
          f"{'autoencoder (x_t -> x_t)' if args.autoencoder else 'generator, one step (x_t, a_t -> x_t+1)'}")
    start = time.perf_counter()
    for step in range(args.steps + 1):
        if step % 100 == 0:
            with torch.no_grad():
                pred, target = predict(held_frames, held_actions)
            print(f"step {step:5d}  held-out MSE {((pred - target) ** 2).mean().item():.5f}  "
                  f"copy x_t as x_t+1 {copy:.5f}  ({time.perf_counter() - start:.0f} s)", flush=True)
        if step == args.steps:
            break
        pred, target = predict(*clips(16, 4, rng))
        loss = summed_error(pred, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


if __name__ == "__main__":
    main()
