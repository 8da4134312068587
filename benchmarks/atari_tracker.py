"""Is a linear controller on V's z enough to play a paddle game? Plays the real game (scored as
agents are: sticky actions, the serve pressed; seeds from the evaluation's own stream) with
policies that move the paddle toward the ball's column (or where it is heading), side by side:

- frame: reads the ball's and the paddle's columns from the frame itself, the ball's velocity
  from the frame before (an upper line for tracking with what these pixels show);
- z: reads both columns from V's z (its mean, as C does) by ridge probes fitted on V's training
  frames, the ball's velocity from the previous frame's z. Its rule, RIGHT when ball + lead x
  velocity - paddle > dead zone, LEFT when < -dead zone, else NOOP, is an argmax over linear
  functions of [z_t, z_t-1] with biases: C's own form (agents.controller). C reads [z_t, h_t]
  instead, and M's h_t is computed from z_t-1 and the action, so a C that moves like this
  tracker exists if h_t keeps z_t-1's ball column (with lead 0 the tracker is C's form on z_t
  alone, with zero weights on h);
- random: the exploration policy that recorded the data;
- NOOP, LEFT, RIGHT: that one action at every step (the paddle left where it starts, or parked
  against a wall): what a controller scores that has learned only to hold one button.

With --zh-controller PATH it also writes the lead-0 tracker on C's own input, [z_t, h_t] (ridge
probes of both columns from [z, h], M's h run over whole training episodes as C sees it), as a
controller checkpoint: `python scripts/evaluate.py --run-dir RUN --controller PATH` then scores
one and the same C in the real game and in the dream. A C of this form exists in CMA-ES's search
space; if it scores well in the real game but the dream pays it no more than holding a button,
the dream cannot teach tracking, whatever the search.

If the z tracker scores far above the dream-trained controller, V's z holds what a linear C
needs and the limit lies in the dream or the search; if it scores like random play, V's z does
not hold the ball well enough for any linear C.

    python benchmarks/atari_tracker.py --run-dir runs/breakout --episodes 100
    python benchmarks/atari_tracker.py --run-dir RUN --policies --zh-controller RUN/zh_tracker.pt
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from atari_v_objects import _encode, _frames, ridge_fit, ridge_probe, split_states

import envs
from agents.collect import episode_seed
from agents.controller import ControllerSpec, save_controller
from agents.evaluate import one_torch_thread
from agents.exploration import EpisodeSeeded
from envs.runner import run_episodes, slot_count
from worldsim.apps.cli import run_main
from worldsim.apps.pipeline import check_frames
from worldsim.data.episodes import list_episodes, split_episodes
from worldsim.data.frames import object_centres, parse_object
from worldsim.models.vae import frames_to_tensor, load_vae
from worldsim.run import RunDir, resolve_device

class FrameTracker:
    """Toward the ball's column as the frame shows it, led by `lead` steps of the ball's column
    velocity and held back by `brake` steps of the paddle's (the paddle keeps moving for a step
    or two after its button is let go); NOOP while no ball shows."""

    def __init__(self, ball: str, paddle: str, background: np.ndarray, moves: tuple[int, int, int],
                 dead_zone: float, lead: float = 0.0, brake: float = 0.0):
        self.ball, self.paddle = parse_object(ball)[1:], parse_object(paddle)[1:]
        self.background, self.moves, self.dead_zone = background, moves, dead_zone
        self.lead, self.brake = lead, brake
        self.last = None  # (rows, 2): the ball's and the paddle's columns a step ago (nan: unseen)

    def reset(self, mask: np.ndarray) -> None:
        if self.last is not None:
            self.last[mask] = np.nan

    def act(self, frames: np.ndarray) -> np.ndarray:
        ball, seen = object_centres(frames, *self.ball, self.background)
        paddle, _ = object_centres(frames, *self.paddle, self.background)
        now = np.stack([np.where(seen, ball[:, 1], np.nan), paddle[:, 1]], axis=1)
        if self.last is None:
            self.last = np.full_like(now, np.nan)
        velocity = np.nan_to_num(now - self.last)
        self.last = now
        gap = np.where(seen, now[:, 0] + self.lead * velocity[:, 0] - now[:, 1] - self.brake * velocity[:, 1], 0.0)
        noop, right, left = self.moves
        return np.where(gap > self.dead_zone, right, np.where(gap < -self.dead_zone, left, noop))


class OneAction:
    """The same action at every step."""

    def __init__(self, action: int):
        self.action = action

    def reset(self, mask: np.ndarray) -> None:
        """Nothing to clear."""

    def act(self, frames: np.ndarray) -> np.ndarray:
        return np.full(len(frames), self.action)


class LatentTracker:
    """C's linear argmax (agents.controller) on [z_t, z_t-1], V's means of this frame and the one
    before (the first frame of an episode stands in for its predecessor), with weights that move
    toward the ball (tracker_params)."""

    def __init__(self, vae, spec: ControllerSpec, params: np.ndarray, device):
        self.vae, self.spec, self.device = vae, spec, device
        self.params = torch.as_tensor(params, dtype=torch.float32, device=device)[None]
        self.last = None  # (rows, z_dim): the previous frame's z
        self.fresh = None  # (rows,): rows whose episode has just begun

    def reset(self, mask: np.ndarray) -> None:
        self.fresh = mask.copy() if self.fresh is None else self.fresh | mask

    @torch.no_grad()
    def act(self, frames: np.ndarray) -> np.ndarray:
        z = self.vae.encode(frames_to_tensor(frames, self.device))[0]
        if self.last is None:
            self.last = z.clone()
        if self.fresh is not None:
            self.last[torch.as_tensor(self.fresh, device=self.device)] = z[torch.as_tensor(self.fresh, device=self.device)]
            self.fresh[:] = False
        obs = torch.cat([z, self.last], dim=1)
        self.last = z
        return self.spec.actions(self.params.expand(len(z), -1), obs).cpu().numpy()


def tracker_params(w_gap: np.ndarray, b_gap: float, actions: int, moves: tuple[int, int, int],
                   dead_zone: float) -> np.ndarray:
    """C's parameters (agents.controller's layout: weights (actions, inputs) row by row, then the
    biases) whose argmax is RIGHT when gap = w_gap . inputs + b_gap > dead_zone, LEFT when gap <
    -dead_zone, else NOOP; every other action's bias is far below."""
    noop, right, left = moves
    w = np.zeros((actions, len(w_gap)))
    b = np.full(actions, -1e6)
    w[right], b[right] = w_gap, b_gap - dead_zone
    w[left], b[left] = -w_gap, -b_gap - dead_zone
    b[noop] = 0.0
    return np.concatenate([w.ravel(), b])


def save_zh_tracker(path: Path, run: RunDir, game: envs.GameInfo, vae, objects: tuple[str, str],
                    paths: tuple[list, list], limit: int, background: np.ndarray, moves: tuple[int, int, int],
                    dead_zone: float, device) -> None:
    """Write C (agents.controller: argmax of W [z, h] + b, the run's own input) that moves the
    paddle toward the ball with lead 0, its columns read from [z_t, h_t] by ridge probes fitted
    on whole training episodes (`paths`: training, held out; `limit` frames of each)."""
    (frames_train, *states_train), (frames_held, *states_held) = split_states(vae, run, game.name, paths, limit, device)
    x_train, x_held = np.hstack(states_train), np.hstack(states_held)
    columns = []
    for spec in objects:
        name, rgb, box = parse_object(spec)
        (y_train, seen_train), (y_held, seen_held) = (object_centres(f, rgb, box, background)
                                                      for f in (frames_train, frames_held))
        w, b = ridge_fit(x_train[seen_train], y_train[seen_train, 1:])
        score = ridge_probe(x_train[seen_train], y_train[seen_train, 1:], x_held[seen_held], y_held[seen_held, 1:])
        columns.append((w[:, 0], float(b[0])))
        print(f"{name}'s column from [z, h]: R^2 {score['r2']:.3f}, error {score['rmse']:.1f} px on "
              f"{seen_held.sum()} held-out frames (whole episodes)")
    (w_ball, b_ball), (w_paddle, b_paddle) = columns
    spec = ControllerSpec(x_train.shape[1], game.num_actions, "argmax")
    params = tracker_params(w_ball - w_paddle, b_ball - b_paddle, game.num_actions, moves, dead_zone)
    save_controller(path, game.name, spec, params, {"made_by": "benchmarks/atari_tracker.py --zh-controller",
                                                  "dead_zone": dead_zone})
    print(f"wrote {path}: the lead-0 tracker on [z, h] as C; score it with "
          f"python scripts/evaluate.py --run-dir {run.root} --controller {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--ball", metavar="NAME:R,G,B@ROWS,COLUMNS",
                        help="where the ball shows (colour 'any': every foreground pixel; default: the game's ball_and_paddle)")
    parser.add_argument("--paddle", metavar="NAME:R,G,B@ROWS,COLUMNS", help="where the paddle shows (default: the game's)")
    parser.add_argument("--dead-zone", type=float, default=1.0, help="pixels of the 64x64 frame (default 1)")
    parser.add_argument("--lead", type=float, default=0.0,
                        help="both trackers aim this many steps of the ball's column velocity ahead (default 0)")
    parser.add_argument("--brake", type=float, default=0.0,
                        help="the frame tracker also subtracts this many steps of the paddle's velocity (default 0)")
    parser.add_argument("--frames", type=int, default=4000, help="frames drawn from each split for the probes")
    parser.add_argument("--zh-controller", type=Path, metavar="PATH",
                        help="also write the lead-0 tracker on [z, h] as a controller checkpoint (needs the run's M)")
    parser.add_argument("--policies", nargs="*", default=["frame", "z", "random"],
                        choices=["frame", "z", "random", "NOOP", "LEFT", "RIGHT"])
    parser.add_argument("--workers", type=int, default=0, help="game processes (0: one per core)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    cfg = run.load_config()
    check_frames(run, cfg.env)  # its V plays the real game: the frames must be made as they were recorded
    game = envs.info(cfg.env)
    if not (args.ball and args.paddle) and not game.ball_and_paddle:
        raise ValueError(f"{cfg.env} does not say where its ball and paddle show; give --ball and --paddle")
    args.ball = args.ball or game.ball_and_paddle[0]
    args.paddle = args.paddle or game.ball_and_paddle[1]
    labels = list(game.action_labels)
    missing = [name for name in ("NOOP", "RIGHT", "LEFT") if name not in labels]
    if missing:
        raise ValueError(f"{cfg.env} has no {', '.join(missing)} action; its actions: {', '.join(labels)}")
    moves = (labels.index("NOOP"), labels.index("RIGHT"), labels.index("LEFT"))
    device = resolve_device(args.device)
    vae = load_vae(run.vae_checkpoint, env=cfg.env, device=device)

    train_paths, val_paths = split_episodes(list_episodes(run.episodes), cfg.vae.val_fraction, cfg.seed)
    rng = np.random.default_rng(0)
    train, held = _frames(train_paths, args.frames, rng), _frames(val_paths, args.frames, rng)
    background = np.median(held, axis=0).astype(np.uint8)
    z_train, z_held = _encode(vae, train, device)[0], _encode(vae, held, device)[0]
    columns = {}
    for spec in (args.ball, args.paddle):
        name, rgb, box = parse_object(spec)
        (y_train, seen_train), (y_held, seen_held) = (object_centres(f, rgb, box, background) for f in (train, held))
        w, b = ridge_fit(z_train[seen_train], y_train[seen_train, 1:])
        score = ridge_probe(z_train[seen_train], y_train[seen_train, 1:], z_held[seen_held], y_held[seen_held, 1:])
        columns[name] = (w[:, 0], float(b[0]))
        print(f"{name}'s column from z: R^2 {score['r2']:.3f}, error {score['rmse']:.1f} px on "
              f"{seen_held.sum()} held-out frames")
    (w_ball, b_ball), (w_paddle, b_paddle) = columns.values()
    # gap = ball_t + lead * (ball_t - ball_t-1) - paddle_t, each column read from z by its probe
    w_gap = np.concatenate([(1 + args.lead) * w_ball - w_paddle, -args.lead * w_ball])
    spec = ControllerSpec(2 * vae.z_dim, game.num_actions, "argmax")
    params = tracker_params(w_gap, b_ball - b_paddle, game.num_actions, moves, args.dead_zone)

    if args.zh_controller:
        if cfg.controller.inputs != "zh":
            raise ValueError(f"--zh-controller builds a C on [z, h]; this run's C reads {cfg.controller.inputs}")
        save_zh_tracker(args.zh_controller, run, game, vae, (args.ball, args.paddle), (train_paths, val_paths),
                        args.frames, background, moves, args.dead_zone, device)

    seeds = [episode_seed(cfg.evaluate.seed, i, stream=2) for i in range(args.episodes)]
    print(f"\n{cfg.env}: {args.episodes} real episodes per policy (sticky actions {game.sticky_actions}), "
          f"dead zone {args.dead_zone:g} px, lead {args.lead:g} steps, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print("| policy | return | median [min, max] | steps per episode | seconds |")
    print("|---|---:|---:|---:|---:|")
    for name in args.policies:
        if name == "frame":
            policy = FrameTracker(args.ball, args.paddle, background, moves, args.dead_zone, args.lead, args.brake)
        elif name == "z":
            policy = LatentTracker(vae, spec, params, device)
        elif name in labels:
            policy = OneAction(labels.index(name))
        else:
            policy = EpisodeSeeded(game, slot_count(args.workers, len(seeds)))
        start = time.perf_counter()
        with one_torch_thread():
            results = run_episodes(cfg.env, seeds, policy, workers=args.workers, progress=name, evaluation=True)
        returns = np.array([r.total_reward for r in results])
        steps = np.array([r.steps for r in results])
        print(f"| {name} | {returns.mean():.2f} ± {returns.std():.2f} | {np.median(returns):g} "
              f"[{returns.min():g}, {returns.max():g}] | {steps.mean():.0f} | {time.perf_counter() - start:.0f} |")
    return 0


if __name__ == "__main__":
    run_main(main)
