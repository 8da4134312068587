"""Does GameGAN carry an action-moved object (Breakout's paddle)? For a fixed-camera game's run:

1. the game itself, from its recorded episodes: the object's move along an axis given the last
   two actions (mean and spread, object away from the frame's edges), the share of copying's
   one-step error that lies on the object's rows, and the share of pixels that change per step;
2. for each GameGAN checkpoint, on held-out clips, each step predicted from the real frame (noise
   0): one-step MSE, MSE on the object's rows, and the squared error (largest channel) on the
   pixels that change;
3. open loop from the held-out clips' first frames, `--steps` of each of the two actions: on the
   pixels where the model draws the moved object (red minus green above 0.2 inside --inside,
   the object's box without the walls' own red corners; for objects of other colours adapt
   OBJECT_PIXEL), the copy skip's
   keep share, the motion skip's "stay" share and the share within the colour tolerance that
   the counterfactual check's locator uses.

    python benchmarks/gamegan_object_motion.py --run-dir runs/breakout-default --models gamegan gamegan_fg
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from worldsim.apps.cli import run_main
from worldsim.apps.compare.counterfactual import AXES
from worldsim.apps.compare.heldout import heldout_clips
from worldsim.data.episodes import iter_valid_episodes, list_episodes, split_episodes
from worldsim.data.frames import COLOUR_TOLERANCE, object_centres, parse_object
from worldsim.models.gamegan import load_gamegan
from worldsim.models.gamegan.losses import changed_pixels
from worldsim.models.gamegan.model import as_frames
from worldsim.run import RunDir, resolve_device

BREAKOUT_PADDLE = "paddle:200,72,72@56-59,4-59"
BREAKOUT_INSIDE = "56-59,3-59"
"""the paddle's rows between Breakout's walls, whose bottoms carry red pixels of the paddle's colour"""
OBJECT_PIXEL = 0.2
"""a model's pixel shows the (red) object where red minus green exceeds this"""
EDGE = 12
"""positions within this many pixels of the frame's edge are left out of the game's moves"""


def game_moves(paths: list[Path], colour, box, axis: str, actions: tuple[int, int]) -> dict:
    """The object's move x_{t+1} - x_t along `axis` given (a_{t-1}, a_t), for both actions."""
    before, now, moves = [], [], []
    for _, ep in iter_valid_episodes(paths, ("frames", "actions")):
        centres, seen = object_centres(ep.frames, colour, box)
        x = np.where(seen, centres[:, AXES[axis]], np.nan)
        a = ep.actions
        before.append(a[:-1]), now.append(a[1:]), moves.append(x[2:] - x[1:-1])
        moves[-1][(x[1:-1] <= EDGE) | (x[1:-1] >= 64 - EDGE)] = np.nan
    before, now, moves = np.concatenate(before), np.concatenate(now), np.concatenate(moves)
    result = {}
    for p in actions:
        for q in actions:
            m = moves[(before == p) & (now == q) & ~np.isnan(moves)]
            result[(p, q)] = (float(m.mean()), float(m.std()), len(m))
    return result


def one_step(model, frames: torch.Tensor, actions: torch.Tensor, rows: slice) -> dict:
    x = as_frames(frames)
    with torch.no_grad():
        out = model.rollout(frames, actions, warm_up=actions.shape[1] + 1,
                            noise=torch.zeros(*actions.shape[:2], model.config.noise_dim))
    return errors(out["frames"], x, rows)


def errors(predicted: torch.Tensor, x: torch.Tensor, rows: slice) -> dict:
    """predicted x_1..x_T against the real clip x_0..x_T (n, T+1, 3, 64, 64) in [0, 1]."""
    target = x[:, 1:]
    error = (predicted - target).pow(2)
    changed = changed_pixels(x[:, :-1], target).squeeze(2)
    return {"mse": error.mean().item(), "rows_mse": error[..., rows, :].mean().item(),
            "changed": error.amax(2)[changed].mean().item()}


def moved_object(model, starts: torch.Tensor, actions: tuple[int, int], steps: int, colour, box) -> dict:
    """Keep, stay and in-tolerance shares on the pixels where the model draws the moved object."""
    keep, stay, within = [], [], []
    z = torch.zeros(len(starts), model.config.noise_dim)
    with torch.no_grad():
        for a in actions:
            state = model.init_state(starts)
            for _ in range(steps):
                state, out = model.step(state, torch.full((len(starts),), a), z)
                f = out["frame"][:, :, box[0], box[1]]
                shown = (f[:, 0] - f[:, 1]) > OBJECT_PIXEL
                pixels = (f.clamp(0, 1) * 255).round().permute(0, 2, 3, 1)[shown]
                within.append(((pixels - torch.tensor(colour).float()).abs() <= COLOUR_TOLERANCE).all(-1).float())
                keep.append(out["keep"][:, 0, box[0], box[1]][shown] if "keep" in out else torch.ones(0))
                stay.append(out["motion"][:, 0, box[0], box[1]][shown] if "motion" in out else torch.ones(0))
    mean = lambda parts: torch.cat(parts).mean().item() if torch.cat(parts).numel() else float("nan")  # noqa: E731
    return {"pixels": int(torch.cat(within).numel()), "keep": mean(keep), "stay": mean(stay), "within": mean(within)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--models", nargs="+", default=["gamegan"], metavar="NAME")
    parser.add_argument("--object", default=BREAKOUT_PADDLE, help=f"NAME:R,G,B@ROWS,COLUMNS (default {BREAKOUT_PADDLE})")
    parser.add_argument("--inside", default=BREAKOUT_INSIDE, metavar="ROWS,COLUMNS",
                        help=f"where the moved object's pixels are looked at (default {BREAKOUT_INSIDE})")
    parser.add_argument("--axis", default="columns", choices=list(AXES))
    parser.add_argument("--actions", nargs=2, type=int, default=[2, 3], metavar=("A", "B"),
                        help="the two actions that move the object (Breakout: 2 RIGHT, 3 LEFT)")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--game-episodes", type=int, default=60)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    cfg = run.load_config()
    resolve_device(args.device)  # the measurements are small; they run on the CPU
    name, colour, box = parse_object(args.object)
    if colour is None or box is None:
        raise ValueError("--object needs a colour and a box")
    rows = slice(max(0, box[0].start - 1), box[0].stop + 1)
    inside = parse_object(f"inside:any@{args.inside}")[2]
    actions = tuple(args.actions)

    train, _ = split_episodes(list_episodes(run.episodes), cfg.gamegan.val_fraction, cfg.seed)
    print(f"{cfg.env}: the {name}'s move along {args.axis} given the last two actions "
          f"({args.game_episodes} training episodes, {EDGE}+ px from the edges)")
    print("| a_t-1 | a_t | mean move (px) | spread (px) | steps |\n|---:|---:|---:|---:|---:|")
    for (p, q), (mean, std, n) in game_moves(train[: args.game_episodes], colour, box, args.axis, actions).items():
        print(f"| {p} | {q} | {mean:+.2f} | {std:.2f} | {n} |")

    held = heldout_clips(run, cfg, args.clips, args.steps, 0)
    x = as_frames(held.frames)
    copy = errors(x[:, :-1], x, rows)
    copy_error = (x[:, 1:] - x[:, :-1]).pow(2)
    changing = changed_pixels(x[:, :-1], x[:, 1:]).float().mean().item()
    print(f"\nHeld out ({args.clips} clips of {args.steps} steps): copying x_t puts "
          f"{copy_error[..., rows, :].sum().item() / copy_error.sum().item():.0%} of its error on rows "
          f"{rows.start}-{rows.stop - 1}; {changing:.2%} of the pixels change per step")
    print("\n| model | one-step MSE | MSE on the object's rows | error on changing pixels | moved object: pixels "
          "| keep | stay | within the locator's tolerance |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| *copy x_t* | {copy['mse']:.7f} | {copy['rows_mse']:.6f} | {copy['changed']:.3f} | | | | |")
    for model_name in args.models:
        model, _ = load_gamegan(run.gamegan_checkpoint(model_name), env=cfg.env)
        e = one_step(model, held.frames, held.actions, rows)
        m = moved_object(model, held.frames[:, 0], actions, args.steps, colour, inside)
        print(f"| {model_name} | {e['mse']:.7f} | {e['rows_mse']:.6f} | {e['changed']:.3f} | {m['pixels']} "
              f"| {m['keep']:.3f} | {m['stay']:.3f} | {m['within']:.3f} |")
    print(f"\nCPU capability {torch.backends.cpu.get_cpu_capability()}")
    return 0


if __name__ == "__main__":
    run_main(main)
