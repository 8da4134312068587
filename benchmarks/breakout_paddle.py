"""Where Breakout's paddle shows, what the `follow` exploration records with a given paddle box, and
what a run's controller plays in the dream where its lives run on (docs/RESULTS.md, "Breakout: the
paddle was found 23 px off").

    python benchmarks/breakout_paddle.py --run-dir runs/breakout-fixed --columns
    python benchmarks/breakout_paddle.py --follow-lives 400 --paddle-columns 0-63 4-59
    python benchmarks/breakout_paddle.py --follow-lives 400 --aim-spreads 0-0 0-8
    python benchmarks/breakout_paddle.py --run-dir runs/breakout-fixed --dream-lives 256

--columns: over the run's first 300 recorded episodes, the pixels of the paddle's colour in its rows
that show in most frames (the wall's marks) and the columns the others (the paddle) reach.
--follow-lives N: N one-life episodes recorded by `follow` (the collect stage's seeds) for each
paddle box (--paddle-columns) or largest aim error (--aim-spreads, BallFollowingPolicy.AIM_SPREAD),
its points, steps and longest life, and where on the paddle it meets the ball: the ball's column
less the paddle's where the ball turns back up above the paddle (a meet) and in a life's last frame
that shows the ball (the miss).
--dream-lives N: N dream lives of the run's controller (tau 1.15, cut at 2,000 steps); for those
past 300 steps, the share of steps C presses FIRE and of frames where V draws the ball (the game's
ball spec), beside the share of frames showing the ball in the recorded lives past 200 steps.
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

import envs
from agents.collect import episode_seed
from agents.controller import load_controller
from agents.exploration import BallFollowingPolicy, EpisodeSeeded
from agents.rollout import ControllerPolicy, rollout
from envs.runner import run_episodes
from worldsim.apps.cli import run_main
from worldsim.data.episodes import iter_valid_episodes, list_episodes
from worldsim.data.frames import COLOUR_TOLERANCE, object_centres, parse_object
from worldsim.dream_env import make_dream
from worldsim.run import RunDir
from worldsim.world_model import load_world

GAME = "Atari/Breakout"
PADDLE_ROWS = slice(56, 61)
PADDLE_LOW_ROWS = slice(58, 60)
"""The paddle's rows that the ball, turning back up above it, does not reach."""


def recorded_frames(run: RunDir, episodes: int):
    """The frames of the run's first `episodes` recorded episodes, one array per episode."""
    return [ep.frames for _, ep in iter_valid_episodes(list_episodes(run.episodes)[:episodes], ("frames",))]


def paddle_columns(run: RunDir, colour) -> None:
    frames = np.concatenate(recorded_frames(run, 300))[:, PADDLE_ROWS]
    near = (np.abs(frames.astype(np.int16) - np.array(colour, np.int16)) <= COLOUR_TOLERANCE).all(-1)
    static = near.mean(0) > 0.5
    rows, cols = np.nonzero(static)
    moving = np.nonzero((near & ~static).any(1))[1]
    print(f"{len(frames)} frames: in most of them, columns {cols.min()}-{cols.max()} of rows "
          f"{rows.min() + PADDLE_ROWS.start}-{rows.max() + PADDLE_ROWS.start} show the paddle's colour; the others "
          f"reach columns {moving.min()}-{moving.max()}")


def meets_and_miss(frames: np.ndarray, ball, paddle) -> tuple[list[float], float]:
    """The ball's column less the paddle's at each step where the ball, in the lowest rows, turns
    back up, and in the last frame that shows both (NaN where none does)."""
    ball_at, ball_seen = object_centres(frames, *ball)
    colour, (_, columns) = paddle
    paddle_at, paddle_seen = object_centres(frames, colour, (PADDLE_LOW_ROWS, columns))
    gap = np.where(ball_seen & paddle_seen, ball_at[:, 1] - paddle_at[:, 1], np.nan)
    row = ball_at[:, 0]
    low = ball[1][0].stop - 6  # the lowest rows the ball reaches above the paddle
    seen = np.flatnonzero(ball_seen)  # the ball hides in the paddle's rows for a step or two as it turns
    meets = [gap[t] for before, t, after in zip(seen, seen[1:], seen[2:])
             if row[t] >= low and row[before] <= row[t] and row[after] < row[t] - 0.5 and after - t <= 3]
    shown = np.flatnonzero(~np.isnan(gap))
    return [g for g in meets if not np.isnan(g)], gap[shown[-1]] if len(shown) else np.nan


def follow_lives(game: envs.GameInfo, lives: int, boxes: list[str], spreads: list[str]) -> None:
    ball, paddle = game.ball_and_paddle
    rows = paddle.split("@")[1].split(",")[0]
    ball_object, paddle_object = parse_object(ball)[1:], parse_object(paddle)[1:]  # meets read by the game's spec, whatever box follows
    seeds = [episode_seed(0, i) for i in range(lives)]
    default_spread = BallFollowingPolicy.AIM_SPREAD
    try:
        for box in boxes:
            spec = f"{paddle.split('@')[0]}@{rows},{box}"
            for spread in spreads or [f"{default_spread[0]:g}-{default_spread[1]:g}"]:
                BallFollowingPolicy.AIM_SPREAD = tuple(float(v) for v in spread.split("-"))
                policy = EpisodeSeeded(dataclasses.replace(game, ball_and_paddle=(ball, spec)), 2, "follow")
                meets, misses = [], []

                def measure(episode) -> None:
                    met, missed = meets_and_miss(np.stack(episode.trajectory["frames"]), ball_object, paddle_object)
                    meets.extend(met)
                    misses.append(missed)

                start = time.perf_counter()
                played = run_episodes(GAME, seeds, policy, workers=2, record=True, on_episode=measure)
                seconds = time.perf_counter() - start
                points = np.array([e.total_reward for e in played])
                steps = np.array([e.steps for e in played])
                met, missed = np.abs(meets), np.abs(np.array(misses)[~np.isnan(misses)])
                print(f"follow with {spec}, aim error up to {spread} px: {lives} recorded lives, points "
                      f"{points.mean():.2f} ± {points.std():.2f}, steps {steps.mean():.0f} ± {steps.std():.0f} "
                      f"(longest {steps.max()}), {seconds:.0f} s")
                print(f"  {len(met)} meets ({len(met) / lives:.2f} a life), |ball - paddle| there: median "
                      f"{np.median(met):.1f} px, 90 % {np.quantile(met, 0.9):.1f}, share beyond 2 px {np.mean(met > 2):.0%}; "
                      f"at the miss: median {np.median(missed):.1f} px, 10-90 % {np.quantile(missed, 0.1):.1f}-"
                      f"{np.quantile(missed, 0.9):.1f}")
    finally:
        BallFollowingPolicy.AIM_SPREAD = default_spread


@torch.no_grad()
def dream_lives(run: RunDir, lives: int) -> None:
    world = load_world(run.root, torch.device("cpu"), "vm", None)
    spec, params, _ = load_controller(run.controller_checkpoint, env=world.env, obs_dim=world.obs_dim)
    ball = parse_object(world.game.ball_and_paddle[0])[1:]
    fire = list(world.game.action_labels).index("FIRE")
    played = []
    dream = make_dream(world, lives, 1.15, 2000, seed=3)
    batch = torch.as_tensor(params, dtype=torch.float32).expand(lives, -1)
    rollout(dream, ControllerPolicy(spec, batch), record=True,
            on_episode=lambda e: played.append((np.stack(e.trajectory["frames"])[:, : world.z_dim],
                                                np.asarray(e.trajectory["actions"]))))
    long = [(z, actions) for z, actions in played if len(actions) > 300]
    drawn = []
    for z, _ in long:
        frames = (world.vae.decode(torch.as_tensor(z)).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
        drawn.append(object_centres(frames, *ball)[1].mean())
    cut = sum(len(actions) >= 2000 for _, actions in long)
    print(f"{lives} dream lives of {run.controller_checkpoint} (tau 1.15, cut at 2,000 steps): {len(long)} past 300 "
          f"steps ({cut} to the cut)")
    if long:
        fired = np.mean([(actions == fire).mean() for _, actions in long])
        print(f"  in those: C presses FIRE in {fired:.1%} of the steps; V draws the ball in {np.mean(drawn):.0%} of the frames")
    shown = [object_centres(f, *ball)[1].mean() for f in recorded_frames(run, 600) if len(f) > 200]
    print(f"  recorded lives past 200 steps (of the first 600): {len(shown)}, the ball shows in {np.mean(shown):.0%} of their frames")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a Breakout run (for --columns and --dream-lives)")
    parser.add_argument("--columns", action="store_true")
    parser.add_argument("--follow-lives", type=int, default=0)
    parser.add_argument("--paddle-columns", nargs="+", default=["4-59"], metavar="C0-C1",
                        help="paddle boxes' columns for --follow-lives (rows as the game's spec)")
    parser.add_argument("--aim-spreads", nargs="+", default=[], metavar="LO-HI",
                        help="BallFollowingPolicy.AIM_SPREAD ranges for --follow-lives (default: the policy's own)")
    parser.add_argument("--dream-lives", type=int, default=0)
    args = parser.parse_args()
    game = envs.info(GAME)
    if (args.columns or args.dream_lives) and args.run_dir is None:
        raise ValueError("--columns and --dream-lives read a run: give --run-dir")
    run = RunDir(args.run_dir) if args.run_dir else None
    if args.columns:
        paddle_columns(run, parse_object(game.ball_and_paddle[1])[1])
    if args.follow_lives:
        follow_lives(game, args.follow_lives, args.paddle_columns, args.aim_spreads)
    if args.dream_lives:
        dream_lives(run, args.dream_lives)
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    return 0


if __name__ == "__main__":
    run_main(main)
