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
import math

import numpy as np
import torch

from worldsim.apps.cli import run_main
from worldsim.apps.compare.heldout import heldout_clips
from worldsim.data.episodes import iter_valid_episodes
from worldsim.run import RunDir, resolve_device
from worldsim.world_model import GameGANWorld, load_gamegan_world


def end_probabilities(world: GameGANWorld, frames: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """M's calibrated per-step end probability (n, T) over V's means of uint8 frames (n, T+1, 64, 64, 3)."""
    x = frames.to(world.device).float().div(255).permute(0, 1, 4, 2, 3)
    n, t1 = x.shape[:2]
    mu, _ = world.vae.encode(x.reshape(n * t1, 3, 64, 64))
    out, _ = world.mdnrnn(mu.reshape(n, t1, -1)[:, :-1], actions.to(world.device))
    return torch.sigmoid(out.done_logit - math.log(world.done_pos_weight))


def to_uint8(frames: torch.Tensor) -> torch.Tensor:
    """GameGAN's float frames (..., 3, 64, 64) -> uint8 (..., 64, 64, 3), as its dream renders them."""
    return (frames.clamp(0, 1) * 255).round().byte().movedim(-3, -1).cpu()


def keep_report(name: str, world: GameGANWorld, held, steps: int, device) -> None:
    g = world.gamegan
    real = held.frames.float().div(255)
    changed = (real[:, 1:] - real[:, :-1]).abs().amax(2, keepdim=True) > 1 / 16
    noise = torch.zeros(len(real), steps, g.config.noise_dim, device=device)
    for label, warm_up in (("open loop", 1), ("teacher-forced", steps)):
        out = g.rollout(held.frames.to(device), held.actions.to(device), warm_up, noise)
        keep = out["keep"].cpu()
        print(f"{name} {label}: mean keep {keep.mean():.3f}; on the pixels the real frame changes "
              f"({changed.float().mean():.2%} of them) {keep[changed].mean():.3f}, on the others "
              f"{keep[~changed].mean():.3f}; pixels with keep < 0.5: {(keep < 0.5).float().mean():.4f}")
        if warm_up == 1:
            err = (out["frames"].cpu() - real[:, 1:]).pow(2)
            copy = (real[:, :1] - real[:, 1:]).pow(2)
            ch = changed.expand_as(err)
            print(f"{name} open loop MSE on the changing pixels {err[ch].mean():.5f} (copying the first frame "
                  f"{copy[ch].mean():.5f}), on the others {err[~ch].mean():.5f} ({copy[~ch].mean():.5f})")


def ends_report(name: str, world: GameGANWorld, held, deaths: list, steps: int, device) -> None:
    g = world.gamegan
    noise = torch.zeros(1, steps, g.config.noise_dim, device=device)
    real_p, fake_p = [], []
    if not deaths:
        print(f"{name}: no held-out episode the game ended with {steps} steps or more; no deaths to read")
    for frames, actions in deaths:
        start = len(actions) - steps
        out = g.rollout(frames[None, start:].permute(0, 1, 4, 2, 3).to(device), actions[None, start:].to(device), 1, noise)
        fake = torch.cat([frames[: start + 1], to_uint8(out["frames"][0])])
        real_p.append(end_probabilities(world, frames[None], actions[None])[0, start:].cpu().numpy())
        fake_p.append(end_probabilities(world, fake[None], actions[None])[0, start:].cpu().numpy())
    if deaths:
        pr, pg = np.stack(real_p), np.stack(fake_p)
        print(f"{name}: M's expected ends over the last {steps} steps of {len(deaths)} deaths: real frames "
              f"{pr.sum(1).mean():.3f}, GameGAN's open loop {pg.sum(1).mean():.3f}; over the last 8 steps "
              f"{pr[:, -8:].sum(1).mean():.3f} against {pg[:, -8:].sum(1).mean():.3f}; at the last step "
              f"{pr[:, -1].mean():.3f} against {pg[:, -1].mean():.3f}")
    noise = torch.zeros(len(held.frames), steps, g.config.noise_dim, device=device)
    gen = to_uint8(g.rollout(held.frames.to(device), held.actions.to(device), 1, noise)["frames"])
    real_frames = held.frames.permute(0, 1, 3, 4, 2)
    p_real = end_probabilities(world, real_frames, held.actions)
    p_fake = end_probabilities(world, torch.cat([real_frames[:, :1], gen], 1), held.actions)
    print(f"{name}: expected ends over the {len(held.frames)} mid-episode clips' {steps} steps (M from each "
          f"clip's start): real frames {p_real.sum(1).mean():.3f}, GameGAN's open loop {p_fake.sum(1).mean():.3f}")


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
    deaths = [(torch.as_tensor(ep.frames), torch.as_tensor(ep.actions))
              for _, ep in iter_valid_episodes(held.val_paths, ("frames", "actions", "terminated"))
              if ep.terminated[-1] and len(ep.actions) >= args.steps]
    print(f"{len(held.frames)} mid-episode clips; {len(deaths)} held-out episodes the game ended")
    for name in args.models:
        world = load_gamegan_world(run.root, device, name)
        if not world.gamegan.config.skip:
            raise SystemExit(f"{name} has no copy skip (gamegan.skip false): nothing keeps the frame read")
        world.gamegan.eval()
        with torch.no_grad():
            keep_report(name, world, held, args.steps, device)
            ends_report(name, world, held, deaths, args.steps, device)
    return 0


if __name__ == "__main__":
    run_main(main)
