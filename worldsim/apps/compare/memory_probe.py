"""The GameGAN paper's memory test: from real frames, N steps left then N steps right; how far the
view went (x_0 against x_N) and how well it came back (x_0 against x_2N), with the real game's own
change over the same actions as the reference."""
from __future__ import annotations

import numpy as np
import torch

import envs
from agents.rollout import EpisodeResult, Replay
from envs.runner import run_episodes, slot_count
from worldsim.metrics import mse, psnr_of_mse, ssim


def memory_actions(game: envs.GameInfo, given: tuple[int, int] | None) -> tuple[int, int]:
    """The actions the memory check goes out and back with: `given`, else the game's first pair
    of opposite actions (game.opposite_actions)."""
    if given is not None:
        return tuple(given)
    if not game.opposite_actions:
        raise ValueError(f"no left/right actions known for {game.name}; give them with --memory-actions LEFT RIGHT")
    return tuple(game.opposite_actions[0])


def out_and_back(frames: torch.Tensor, n: int) -> dict:
    """uint8 (k, 2n+1, 3, H, W) paths x_0..x_2n (x_0 real) -> errors against x_0 of x_n (out) and
    x_2n (back); and 'own_back_mse' of x_2n-1 against x_1, two frames at the same place that are
    both the model's own (free of its gap in drawing the real x_0)."""
    start, out, back = frames[:, 0], frames[:, n], frames[:, 2 * n]
    out_mse, back_mse = mse(out, start).mean().item(), mse(back, start).mean().item()
    own = mse(frames[:, 2 * n - 1], frames[:, 1]).mean().item()
    return {"out_mse": round(out_mse, 6), "back_mse": round(back_mse, 6),
            "out_psnr": round(psnr_of_mse(out_mse), 3), "back_psnr": round(psnr_of_mse(back_mse), 3),
            "back_ssim": round(ssim(back, start).mean().item(), 4),
            "back_over_out": round(back_mse / max(out_mse, 1e-12), 4),
            "own_back_mse": round(own, 6), "starts": len(frames)}


def real_game_paths(env: str, sequence: list[int], seeds: list[int], progress: bool = True) -> torch.Tensor:
    """The real game from reset(seed) for each seed, playing `sequence` -> uint8 (k, len+1, 3, H, W);
    episodes that end before the sequence does are left out."""
    paths = []

    def keep(episode: EpisodeResult) -> None:
        if episode.steps == len(sequence) and not episode.terminated:
            paths.append(np.stack(episode.trajectory["frames"]))

    num_envs = slot_count(0, len(seeds))
    run_episodes(env, seeds, Replay(sequence, num_envs), workers=num_envs, max_steps=len(sequence), record=True,
                 on_episode=keep, progress="real game" if progress else None)
    if not paths:
        return torch.zeros(0, len(sequence) + 1, 3, 64, 64, dtype=torch.uint8)
    return torch.as_tensor(np.stack(paths)).permute(0, 1, 4, 2, 3).contiguous()
