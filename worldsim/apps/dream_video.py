"""Videos of the dream without a window: a pilot playing dream episodes, and the real game next
to the dream as both receive the same actions from the same first frame ([real | dream | error])."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

import envs
from agents.pilot import Pilot
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


def play_dream(env: DreamEnv, pilot: Pilot, steps: int, seed: int = 0) -> DreamPlay:
    """`steps` steps of the pilot in the dream; an episode that ends is followed by a new one."""
    obs, _ = env.reset(seed=seed)
    frames, scores, score = [], [], 0.0
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(pilot.act(obs))
        frames.append(env.render())
        score += reward
        if terminated or truncated:
            scores.append(score)
            score = 0.0
            obs, _ = env.reset()
    return DreamPlay(np.stack(frames), scores, score)


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


@torch.no_grad()
def real_and_dream(dream: DreamEnv, pilot: Pilot, steps: int, seed: int = 0) -> SideBySide:
    """The real game and the dream started from the real first frame (V+M's dream: from V's
    encoding of it, z = mu; GameGAN's: from the frame itself), then given the same actions (the
    pilot sees the real game) until the real episode ends or `steps`."""
    real = envs.make(dream.world.env)
    frame, _ = real.reset(seed=seed)
    dream.reset(seed=seed, options={"frame": frame})
    real_frames, dream_frames = [frame], [dream.render()]
    for _ in range(steps):
        action = pilot.act(frame)
        frame, _, terminated, truncated, _ = real.step(action)
        dream.step(action)  # if M ends its episode early the dream plays on: the real episode sets the length
        real_frames.append(frame)
        dream_frames.append(dream.render())
        if terminated or truncated:
            break
    real.close()
    return SideBySide(np.stack(real_frames), np.stack(dream_frames))


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
