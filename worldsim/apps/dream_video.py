"""Videos of the dream without a window, both played by the one rollout loop: a pilot playing
dream episodes, and the real game next to the dream as both receive the same actions from the
same first frame ([real | dream | error])."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from agents.rollout import Policy, rollout
from envs.runner import RealGames
from worldsim.dream_env import DreamEnv
from worldsim.media import upscale

VIDEO_SCALE = 4
LABEL_HEIGHT = 16  # keeps frame sizes multiples of 16, which mp4 encoders need to avoid resizing


@dataclass
class DreamPlay:
    frames: np.ndarray
    """(steps, 64, 64, 3) uint8: the frame the dream produced at each step, episode ends included."""
    scores: list[float]
    """Total reward of each episode that ended."""
    unfinished: float
    """Reward so far of the episode still running after the last step (0.0 when one had just ended)."""


def play_dream(env: DreamEnv, pilot: Policy, steps: int, seed: int = 0) -> DreamPlay:
    """`steps` steps of the pilot in env's dream (seeded with `seed`); an episode that ends is
    followed by a new one."""
    dream = env.dream
    dream.seed(seed)
    frames = []
    played = rollout(dream, pilot, steps=steps, on_step=lambda *_: frames.append(dream.render()[0].cpu().numpy()))
    unfinished = sum(e.total_reward for e in played.unfinished)
    return DreamPlay(np.stack(frames), [e.total_reward for e in played.episodes], unfinished)


@dataclass
class SideBySide:
    real: np.ndarray
    """(T, 64, 64, 3) uint8: the real game's frames, the first one and one after each step."""
    dream: np.ndarray
    """(T, 64, 64, 3) uint8: the dream's frames at the same steps; the first is V's reconstruction
    of the real one (V+M's dream) or the real one itself (GameGAN's)."""

    @property
    def errors(self) -> np.ndarray:
        """(T,) mean absolute pixel difference of each frame pair, in levels 0-255."""
        return np.abs(self.real.astype(np.int16) - self.dream).mean(axis=(1, 2, 3))


class Lockstep:
    """The real game and a dream given the same actions (envs.rollout.Games, one row): a reset
    starts the dream from the real first frame (V+M's dream: from V's encoding of it, z = mu;
    GameGAN's: from the frame itself); a step steps both and returns the real game's outcome, so
    the real episode sets the length (if M ends its episode early the dream plays on). The
    dream's frames are kept in `dream_frames`."""

    num_envs = 1

    def __init__(self, real: RealGames, dream):
        self.real, self.dream = real, dream
        self.dream_frames: list[np.ndarray] = []

    def _show(self) -> None:
        self.dream_frames.append(self.dream.render()[0].cpu().numpy())

    def reset(self, mask=None, seeds=None):
        frame = self.real.reset(mask, seeds)
        self.dream.reset_to_frames(frame)
        self._show()
        return frame

    def step(self, actions):
        outcome = self.real.step(actions)
        self.dream.step(actions)
        self._show()
        return outcome


@torch.no_grad()
def real_and_dream(env: DreamEnv, pilot: Policy, steps: int, seed: int = 0) -> SideBySide:
    """The real game (reset with `seed`) and env's dream started from its first frame, then given
    the same actions (the pilot sees the real game) until the real episode ends or `steps`."""
    env.dream.seed(seed)
    real = []
    with RealGames(env.world.env, 1) as games:
        pair = Lockstep(games, env.dream)
        rollout(pair, pilot, seeds=[seed], max_steps=steps, record=True,
                on_episode=lambda episode: real.extend(episode.trajectory["frames"]))
    return SideBySide(np.stack(real), np.stack(pair.dream_frames))


def side_by_side_frames(pair: SideBySide, temperature: float) -> np.ndarray:
    """(T, LABEL_HEIGHT + 64 * VIDEO_SCALE, 3 * 64 * VIDEO_SCALE, 3) uint8: [real | dream | |real - dream|],
    each panel upscaled VIDEO_SCALE times, under a strip naming the panels."""
    difference = np.abs(pair.real.astype(np.int16) - pair.dream).astype(np.uint8)
    panels = upscale(np.concatenate([pair.real, pair.dream, difference], axis=2), VIDEO_SCALE)
    width = panels.shape[2] // 3
    errors = pair.errors
    frames = []
    for t, picture in enumerate(panels):
        strip = np.zeros((LABEL_HEIGHT, panels.shape[2], 3), dtype=np.uint8)
        labels = (f"real  step {t}", f"dream  tau {temperature:.2f}", f"|difference|  {errors[t]:.1f}")
        for i, label in enumerate(labels):
            cv2.putText(strip, label, (i * width + 4, LABEL_HEIGHT - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                        (230, 230, 230), 1, cv2.LINE_AA)
        frames.append(np.concatenate([strip, picture], axis=0))
    return np.stack(frames)
