"""Does a GameGAN draw what ends an episode? Two measurements on the episodes GameGAN training
held out, for each checkpoint with the copy skip:

1. Where the copy skip keeps the frame read: its keep mask (1: the next frame is the frame read,
   moved by the motion skip; 0: drawn) over 64 held-out clips of 32 steps, in the open loop
   (noise 0, as benchmarks/world_model_compare.py runs it) and teacher-forced, on the pixels
   that change between the real frames (any channel by more than 1/16) and on the others.
2. Whether M's done head sees the deaths in GameGAN's frames: over the last 32 steps of every
   held-out episode the game ended, M's end probabilities (calibrated as the dreams draw them,
   its training weight on ends divided back out) read from V's encoding of the real frames and
   of GameGAN's open loop from the real frame 32 steps before the end (M reads the real frames
   before that), summed into expected ends; and the same over the mid-episode clips of 1., M
   reading from each clip's start, as the false-alarm rate.

3. With --probe: does GameGAN's own state carry the deaths? A logistic end head is fitted (plain
   binary cross-entropy, Adam, then calibrated from the probe clips' rate of ends per step to the
   game's by a prior shift) on the frozen model's open-loop states h_t over clips of the first
   --probe-episodes training episodes (each game-ended episode's last steps, and one clip at a
   random start from every episode), then read over the same held-out deaths and clips as 2.
   The same fitted on the teacher-forced states (every step reading the real frame) says what
   the state holds when it reads the real game; --probe-own-steps N ... fits one for each number
   of own-frame steps at the clips' end (the real frames before), how far into its own open
   loop the state keeps what it read. Every death clip ends at its last step, so a
   probe can learn the clip's age instead of the threat; the mid-episode clips, as long, show
   how much of what it expects is age.

The GameGAN dream (worldsim.gamegan_dream) ends its episodes from exactly the probabilities of 2.:
a GameGAN whose frames never show a death gives a dream that never ends.

    python benchmarks/gamegan_deaths.py --run-dir runs/doom-gg17 --models gamegan_fgol32_3k gamegan_fgol32_cw3
"""
from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from worldsim.apps.cli import run_main
from worldsim.apps.compare.heldout import heldout_clips
from worldsim.apps.compare.predictors import to_uint8
from worldsim.data.clips import ClipPool
from worldsim.data.episodes import iter_valid_episodes
from worldsim.models.gamegan.losses import changed_pixels
from worldsim.models.gamegan.model import as_frames
from worldsim.models.mdnrnn import end_probability
from worldsim.run import RunDir, resolve_device
from worldsim.world_model import GameGANWorld, WorldModel, load_gamegan_world


def end_probabilities(world: WorldModel, frames: torch.Tensor, actions: torch.Tensor) -> np.ndarray:
    """M's calibrated per-step end probability (n, T) over V's means of frames (n, T+1, 3, 64, 64)
    uint8, as the dreams draw their ends."""
    x = as_frames(frames.to(world.device))
    n, t1 = x.shape[:2]
    mu, _ = world.vae.encode(x.reshape(n * t1, 3, 64, 64))
    out, _ = world.mdnrnn(mu.reshape(n, t1, -1)[:, :-1], actions.to(world.device))
    return end_probability(out.done_logit, world.done_pos_weight).cpu().numpy()


def open_loop(world: GameGANWorld, frames: torch.Tensor, actions: torch.Tensor, warm_up: int = 1) -> dict[str, torch.Tensor]:
    """GameGAN's rollout at noise 0 from the real frames[:, 0], reading its own frames after it
    (warm_up > 1: the first warm_up steps read the real frames)."""
    noise = torch.zeros(*actions.shape[:2], world.gamegan.config.noise_dim, device=world.device)
    return world.gamegan.rollout(frames.to(world.device), actions.to(world.device), warm_up, noise)


def prior_shift(logit: torch.Tensor, trained_rate: float, true_rate: float) -> torch.Tensor:
    """A classifier's logit trained where positives came at `trained_rate` -> its logit where
    they come at `true_rate` (the log odds ratio of the two rates added)."""
    return logit - math.log(trained_rate / (1 - trained_rate)) + math.log(true_rate / (1 - true_rate))


def episode_ends(paths: list) -> tuple[int, int]:
    """(episodes the game ended, transitions) over the episode files `paths`."""
    ends = steps = 0
    for _, ep in iter_valid_episodes(paths, ("terminated",)):
        ends += int(len(ep.terminated) > 0 and ep.terminated[-1])
        steps += len(ep.terminated)
    return ends, steps


def last_steps(deaths: list, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Each death's last `steps` steps as clips: frames (n, steps+1, 3, 64, 64), actions (n, steps)."""
    return (torch.stack([f[len(a) - steps:] for f, a in deaths]), torch.stack([a[len(a) - steps:] for f, a in deaths]))


def keep_report(name: str, world: GameGANWorld, held, generated: dict[str, torch.Tensor]) -> None:
    """The keep mask in the open loop (`generated`) and teacher-forced, on changing and other pixels."""
    real = as_frames(held.frames)
    changed = changed_pixels(real[:, :-1], real[:, 1:])
    forced = open_loop(world, held.frames, held.actions, warm_up=held.actions.shape[1])
    for label, out in (("open loop", generated), ("teacher-forced", forced)):
        keep = out["keep"].cpu()
        print(f"{name} {label}: mean keep {keep.mean():.3f}; on the pixels the real frame changes "
              f"({changed.float().mean():.2%} of them) {keep[changed].mean():.3f}, on the others "
              f"{keep[~changed].mean():.3f}; pixels with keep < 0.5: {(keep < 0.5).float().mean():.4f}")
    err = (generated["frames"].cpu() - real[:, 1:]).pow(2)
    copy = (real[:, :1] - real[:, 1:]).pow(2)
    ch = changed.expand_as(err)
    print(f"{name} open loop MSE on the changing pixels {err[ch].mean():.5f} (copying the first frame "
          f"{copy[ch].mean():.5f}), on the others {err[~ch].mean():.5f} ({copy[~ch].mean():.5f})")


def print_ends(name: str, reader: str, deaths: np.ndarray | None, clips: np.ndarray, real_deaths: np.ndarray | None,
               real_clips: np.ndarray) -> None:
    """Expected ends over the deaths' last steps and over the mid-episode clips, (n, T)
    probabilities each, beside M's from the real frames."""
    if deaths is not None:
        pr, pg = real_deaths, deaths
        print(f"{name}: expected ends over the last {pg.shape[1]} steps of {len(pg)} deaths, {reader}: "
              f"{pg.sum(1).mean():.3f} (M, real frames: {pr.sum(1).mean():.3f}); over the last 8 steps "
              f"{pg[:, -8:].sum(1).mean():.3f} ({pr[:, -8:].sum(1).mean():.3f}); at the last step "
              f"{pg[:, -1].mean():.3f} ({pr[:, -1].mean():.3f})")
    print(f"{name}: expected ends over the {len(clips)} mid-episode clips' {clips.shape[1]} steps, {reader}: "
          f"{clips.sum(1).mean():.3f} (M, real frames: {real_clips.sum(1).mean():.3f})")


def ends_report(name: str, world: GameGANWorld, held, generated: dict[str, torch.Tensor], deaths: list,
                death_loops: dict[str, torch.Tensor] | None, real_deaths: np.ndarray | None,
                real_clips: np.ndarray, steps: int) -> None:
    """M's expected ends from GameGAN's open loop over each death's last `steps` steps
    (`death_loops`) and over the held-out clips (`generated`), beside those from the real frames."""
    fake = None
    if death_loops is None:
        print(f"{name}: no held-out episode the game ended with {steps} steps or more; no deaths to read")
    else:
        fake = []
        for (frames, actions), drawn in zip(deaths, death_loops["frames"]):
            start = len(actions) - steps
            seen = torch.cat([frames[: start + 1], to_uint8(drawn).cpu()])
            fake.append(end_probabilities(world, seen[None], actions[None])[0, start:])
        fake = np.stack(fake)
    seen = torch.cat([held.frames[:, :1], to_uint8(generated["frames"]).cpu()], 1)
    print_ends(name, "M reading GameGAN's open loop", fake, end_probabilities(world, seen, held.actions),
               real_deaths, real_clips)


def probe_clips(paths: list, steps: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The probe's training clips from episodes `paths` (those with a whole clip): each game-ended
    episode's last `steps` steps and one clip at a random start from every episode -> frames,
    actions, ends (n, steps): 1 at a clip's last step where it ends an episode the game ended."""
    pool = ClipPool.load(paths, steps)
    clips = [(e, s) for e, last in enumerate(pool.starts - 1)
             for s in ([last] if pool.ended[e] else []) + [int(rng.integers(0, last + 1))]]
    picked = [pool.clip(e, s) for e, s in clips]
    ends = np.zeros((len(clips), steps), dtype=np.float32)
    ends[:, -1] = [pool.ended[e] and s == pool.starts[e] - 1 for e, s in clips]
    return (torch.as_tensor(np.stack([f for f, _ in picked])).movedim(-1, -3),
            torch.as_tensor(np.stack([a for _, a in picked])), torch.as_tensor(ends))


def rollout_states(world: GameGANWorld, frames: torch.Tensor, actions: torch.Tensor, warm_up: int,
                   batch: int = 32) -> torch.Tensor:
    """The states h_t (n, T, hidden) of rollouts at noise 0, `batch` clips at a time."""
    return torch.cat([open_loop(world, frames[i : i + batch], actions[i : i + batch], warm_up)["hidden"]
                      for i in range(0, len(frames), batch)]).cpu()


def probe_label(own: int, steps: int) -> str:
    """What the probe's states read: the last `own` of a clip's `steps` steps read the frames the
    model drew (steps - 1: the whole open loop from x_0; 0: every step the real frame)."""
    if own >= steps - 1:
        return "open loop"
    return "teacher-forced" if own <= 0 else f"{own} open-loop steps at the end (the real frames before)"


def probe_report(name: str, world: GameGANWorld, probe: tuple, game_rate: float, held, death_clips: tuple | None,
                 real_deaths: np.ndarray | None, real_clips: np.ndarray, steps: int, own_steps: list[int],
                 open_states: tuple[torch.Tensor, torch.Tensor | None], iterations: int = 1500) -> None:
    """A logistic end head fitted on the frozen model's states over the probe's clips, read over
    the held-out deaths and clips: once for each number of steps at the clips' end that read the
    model's own frames (`own_steps`; the steps before read the real ones). open_states: the held-out
    clips' and deaths' states in the open loop from their first frame, which main has rolled."""
    frames, actions, ends = probe
    if not 0 < game_rate < 1 or not 0 < float(ends.mean()) < 1:
        print(f"{name}: no probe: its clips need steps the game ended and steps it did not")
        return
    for own in own_steps:
        label, warm_up = probe_label(own, steps), max(1, steps - own)
        x = rollout_states(world, frames, actions, warm_up)
        torch.manual_seed(0)
        head = torch.nn.Linear(x.shape[-1], 1)
        optimizer = torch.optim.Adam(head.parameters(), lr=1e-2)
        with torch.enable_grad():  # the benchmark runs the models without gradients; the probe learns
            for _ in range(iterations):
                optimizer.zero_grad()
                loss = torch.nn.functional.binary_cross_entropy_with_logits(head(x).squeeze(-1), ends)
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            def read(clips, rolled):
                states = rolled.cpu() if warm_up == 1 else rollout_states(world, *clips, warm_up)
                return torch.sigmoid(prior_shift(head(states).squeeze(-1), float(ends.mean()), game_rate)).numpy()
            p_deaths = None if death_clips is None else read(death_clips, open_states[1])
            print_ends(name, f"a probe fitted on the {label} states (training loss {loss.item():.4f})",
                       p_deaths, read((held.frames, held.actions), open_states[0]), real_deaths, real_clips)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="a run with V, M, GameGAN checkpoints and recorded episodes")
    parser.add_argument("--models", nargs="+", required=True, help="GameGAN checkpoints/NAME.pt names (copy skip)")
    parser.add_argument("--clips", type=int, default=64, help="held-out mid-episode clips")
    parser.add_argument("--steps", type=int, default=32, help="clip length and steps before each death")
    parser.add_argument("--probe", action="store_true", help="fit a logistic end head on each model's frozen states")
    parser.add_argument("--probe-episodes", type=int, default=240, help="training episodes the probe's clips come from")
    parser.add_argument("--probe-own-steps", type=int, nargs="+",
                        help="fit a probe for each: the last N steps of every clip read the model's own frames, the "
                             "steps before the real ones (default: STEPS-1 and 0, its whole open loop and teacher-forced)")
    parser.add_argument("--device", default="cpu", help="auto (CUDA when present), cpu or cuda")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    device = resolve_device(args.device)
    run = RunDir(args.run_dir)
    held = heldout_clips(run, run.load_config(), args.clips, args.steps)
    deaths = [(torch.as_tensor(ep.frames).movedim(-1, -3), torch.as_tensor(ep.actions))
              for _, ep in iter_valid_episodes(held.val_paths, ("frames", "actions", "terminated"))
              if ep.terminated[-1] and len(ep.actions) >= args.steps]
    print(f"{len(held.frames)} mid-episode clips; {len(deaths)} held-out episodes the game ended")
    death_clips = last_steps(deaths, args.steps) if deaths else None
    if args.probe:
        probe = probe_clips(held.train_paths[: args.probe_episodes], args.steps, np.random.default_rng(0))
        ends, transitions = episode_ends(held.train_paths)
        print(f"probe: {len(probe[0])} training clips, {int(probe[2].sum())} of them ending at a death; the game "
              f"ends {ends} of the {len(held.train_paths)} training episodes in {transitions} steps")
    with torch.no_grad():
        vm = WorldModel.load(run.root, device)  # the run's V and M, which every GameGAN here is read by
        real_deaths = np.stack([end_probabilities(vm, f[None], a[None])[0, -args.steps:] for f, a in deaths]) if deaths else None
        real_clips = end_probabilities(vm, held.frames, held.actions)
        for name in args.models:
            world = load_gamegan_world(run.root, device, name)
            if not world.gamegan.config.skip:
                raise SystemExit(f"{name} has no copy skip (gamegan.skip false): nothing keeps the frame read")
            world.gamegan.eval()
            generated = open_loop(world, held.frames, held.actions)
            death_loops = open_loop(world, *death_clips) if deaths else None
            keep_report(name, world, held, generated)
            ends_report(name, world, held, generated, deaths, death_loops, real_deaths, real_clips, args.steps)
            if args.probe:
                probe_report(name, world, probe, ends / transitions, held, death_clips, real_deaths, real_clips, args.steps,
                             args.probe_own_steps or [args.steps - 1, 0],
                             (generated["hidden"], None if death_loops is None else death_loops["hidden"]))
    return 0


if __name__ == "__main__":
    run_main(main)
