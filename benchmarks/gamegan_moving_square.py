"""Does GameGAN's generator read the frame it is given? A synthetic check
(worldsim.data.synthetic: a 12x12 white square on black, actions left / stay / right moving it 4
pixels). The generator is trained by GameGAN's own reconstruction warm start (every step
teacher-forced, noise at 0, gamegan.recon_only_lr), then optionally adversarially, and its
held-out one-step and open-loop errors are printed beside copying x_t as x_{t+1}. With
--autoencoder, the frame encoder and the simple renderer alone are trained to reproduce x_t, a
check that they can carry the square's position at all. --gamegan.FIELD VALUE overrides the
tiny generator's settings, e.g. --gamegan.output sigmoid --gamegan.encoder_norm false for the
first form. With --ball a small red ball moves on its own over the game (Breakout's ball in
miniature), and the share of its pixels the model draws in its colour is printed per step, from
the real frame and open loop.

    python benchmarks/gamegan_moving_square.py --steps 600
    python benchmarks/gamegan_moving_square.py --steps 300 --autoencoder
    python benchmarks/gamegan_moving_square.py --steps 300 --adversarial-steps 300
    python benchmarks/gamegan_moving_square.py --steps 600 --ball --gamegan.clip_len 8 --gamegan.skip true \
        --gamegan.motion_kernels 2 --gamegan.motion_local true
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from worldsim.config import GameGANConfig, add_override_arguments, overrides_from_args
from worldsim.data.synthetic import TINY_GAMEGAN as TINY, ball_pixels, moving_square_clips
from worldsim.models.gamegan.losses import reconstruction_loss
from worldsim.models.gamegan.model import as_frames
from worldsim.training.gamegan import GameGANTrainer, evaluate_gamegan, warm_up_at

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="reconstruction warm-start steps (default 600)")
    parser.add_argument("--adversarial-steps", type=int, default=0, help="adversarial steps after it (default 0)")
    parser.add_argument("--autoencoder", action="store_true", help="train encoder + renderer to reproduce x_t")
    parser.add_argument("--ball", action="store_true", help="a ball that moves on its own over the game")
    parser.add_argument("--eval-every", type=int, default=100)
    add_override_arguments(parser)  # --gamegan.FIELD VALUE, typed and documented by the config itself
    args = parser.parse_args()
    given = overrides_from_args(args)
    others = sorted(k for k in given if not k.startswith("gamegan."))
    if others:
        parser.error(f"only --gamegan.* settings apply to this check, not {', '.join(others)}")
    args.config = GameGANConfig(**{**TINY, **{k.split(".", 1)[1]: v for k, v in given.items()}})
    if args.autoencoder and args.config.spatial:
        parser.error("--autoencoder trains the frame encoder and renderer without the dynamics engine, "
                     "so there is no spatial state for --gamegan.spatial to add")
    return args


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    gc = args.config
    trainer = GameGANTrainer(gc, 3, True, [], torch.device("cpu"))
    model = trainer.generator
    held_frames, held_actions = moving_square_clips(64, gc.clip_len, np.random.default_rng(1), args.ball)
    rng = np.random.default_rng(0)
    if args.autoencoder:
        parts = [model.dynamics.encode, model.dynamics.norm, model.renderer]
        optimizer = torch.optim.Adam([p for m in parts for p in m.parameters()], lr=gc.recon_only_lr or gc.lr)
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}; "
          f"{'autoencoder (x_t -> x_t)' if args.autoencoder else 'generator (x_t, a_t -> x_t+1)'}; "
          f"output {gc.output}, encoder_norm {gc.encoder_norm}")
    start, total = time.perf_counter(), args.steps + args.adversarial_steps
    for step in range(total + 1):
        if step % args.eval_every == 0 or step == total:
            elapsed = time.perf_counter() - start
            if args.autoencoder:
                with torch.no_grad():
                    x = as_frames(torch.as_tensor(held_frames[:, :-1])).flatten(0, 1)
                    error = (model.renderer(model.dynamics.read_frame(x))["frame"] - x).pow(2).mean().item()
                print(f"step {step:5d}  held-out MSE {error:.5f}  ({elapsed:.0f} s)", flush=True)
            else:
                scores = evaluate_gamegan(model, held_frames, held_actions, "cpu")
                print(f"step {step:5d}  one-step {scores['one_step_mse']:.5f}  open-loop {scores['open_loop_mse']:.5f}"
                      f"  copy x_t {scores['copy_last_frame_mse']:.5f}  ({elapsed:.0f} s)", flush=True)
                if args.ball:
                    print("    ball drawn, by step: " + "  ".join(
                        f"{name} " + " ".join(f"{v:.2f}" for v in shares)
                        for name, shares in ball_drawn(model, held_frames, held_actions).items()), flush=True)
        if step == total:
            break
        frames, actions = moving_square_clips(gc.batch_size, gc.clip_len, rng, args.ball)
        if args.autoencoder:
            x = as_frames(torch.as_tensor(frames[:, :-1])).flatten(0, 1)
            loss = reconstruction_loss(model.renderer(model.dynamics.read_frame(x))["frame"], x, gc.recon_norm,
                                       gc.recon_reduction)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        elif step < args.steps:
            trainer.reconstruction_step(frames, actions)
        else:
            warm = warm_up_at(step - args.steps, gc.warm_up, max(1, args.adversarial_steps), gc.warm_up_floor)
            trainer.train_step(frames, actions, warm)


@torch.no_grad()
def ball_drawn(model, frames: np.ndarray, actions: np.ndarray) -> dict[str, list[float]]:
    """Of the real ball's pixels at each step x_1..x_T, the share the model draws in the ball's
    colour: 'one-step' reads the real x_t at every step, 'open-loop' only x_0 (noise 0)."""
    model.eval()
    real = as_frames(torch.as_tensor(frames))
    a = torch.as_tensor(actions)
    noise = torch.zeros(*a.shape[:2], model.config.noise_dim)
    truth = ball_pixels(frames[:, 1:])  # (clips, T, 64, 64)
    out = {}
    for name, warm in (("one-step", a.shape[1]), ("open-loop", 1)):
        drawn = ball_pixels(model.rollout(real, a, warm, noise)["frames"].numpy())
        out[name] = [(drawn[:, t] & truth[:, t]).sum() / max(1, truth[:, t].sum()) for t in range(a.shape[1])]
    return out


if __name__ == "__main__":
    main()
