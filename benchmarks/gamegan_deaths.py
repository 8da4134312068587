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

The GameGAN dream (worldsim.gamegan_dream) ends its episodes from exactly these probabilities:
a GameGAN whose frames never show a death gives a dream that never ends.

    python benchmarks/gamegan_deaths.py --run-dir runs/doom-gg17 --models gamegan_fgol32_3k gamegan_fgol32_cw3
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from worldsim.apps.cli import run_main
from worldsim.apps.compare.heldout import heldout_clips
from worldsim.apps.compare.predictors import to_uint8
from worldsim.data.episodes import iter_valid_episodes
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


def open_loop(world: GameGANWorld, frames: torch.Tensor, actions: torch.Tensor) -> dict[str, torch.Tensor]:
    """GameGAN's rollout at noise 0 from the real frames[:, 0], reading its own frames after it."""
    noise = torch.zeros(*actions.shape[:2], world.gamegan.config.noise_dim, device=world.device)
    return world.gamegan.rollout(frames.to(world.device), actions.to(world.device), 1, noise)


def keep_report(name: str, world: GameGANWorld, held, generated: dict[str, torch.Tensor]) -> None:
    """The keep mask in the open loop (`generated`) and teacher-forced, on changing and other pixels."""
    real = as_frames(held.frames)
    changed = (real[:, 1:] - real[:, :-1]).abs().amax(2, keepdim=True) > 1 / 16
    steps = held.actions.shape[1]
    noise = torch.zeros(len(real), steps, world.gamegan.config.noise_dim, device=world.device)
    forced = world.gamegan.rollout(held.frames.to(world.device), held.actions.to(world.device), steps, noise)
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


def ends_report(name: str, world: GameGANWorld, held, generated: dict[str, torch.Tensor], deaths: list,
                real_deaths: np.ndarray | None, real_clips: np.ndarray, steps: int) -> None:
    """M's expected ends from GameGAN's open loop over each death's last `steps` steps and over
    the held-out clips (`generated`), beside those from the real frames."""
    if real_deaths is None:
        print(f"{name}: no held-out episode the game ended with {steps} steps or more; no deaths to read")
    else:
        fake = []
        for frames, actions in deaths:
            start = len(actions) - steps
            drawn = open_loop(world, frames[None, start:], actions[None, start:])["frames"][0]
            seen = torch.cat([frames[: start + 1], to_uint8(drawn).cpu()])
            fake.append(end_probabilities(world, seen[None], actions[None])[0, start:])
        pr, pg = real_deaths, np.stack(fake)
        print(f"{name}: M's expected ends over the last {steps} steps of {len(deaths)} deaths: real frames "
              f"{pr.sum(1).mean():.3f}, GameGAN's open loop {pg.sum(1).mean():.3f}; over the last 8 steps "
              f"{pr[:, -8:].sum(1).mean():.3f} against {pg[:, -8:].sum(1).mean():.3f}; at the last step "
              f"{pr[:, -1].mean():.3f} against {pg[:, -1].mean():.3f}")
    seen = torch.cat([held.frames[:, :1], to_uint8(generated["frames"]).cpu()], 1)
    p_fake = end_probabilities(world, seen, held.actions)
    print(f"{name}: expected ends over the {len(held.frames)} mid-episode clips' {steps} steps (M from each "
          f"clip's start): real frames {real_clips.sum(1).mean():.3f}, GameGAN's open loop {p_fake.sum(1).mean():.3f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", required=True, help="a run with V, M, GameGAN checkpoints and recorded episodes")
    parser.add_argument("--models", nargs="+", required=True, help="GameGAN checkpoints/NAME.pt names (copy skip)")
    parser.add_argument("--clips", type=int, default=64, help="held-out mid-episode clips")
    parser.add_argument("--steps", type=int, default=32, help="clip length and steps before each death")
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
            keep_report(name, world, held, generated)
            ends_report(name, world, held, generated, deaths, real_deaths, real_clips, args.steps)
    return 0


if __name__ == "__main__":
    run_main(main)
