"""Random-but-sensible policies that collect a world model's training data from real
games, one batch of actions per step for N parallel envs (a gymnasium vector env).

    policy = make_exploration_policy(envs.info("Doom"), num_envs=8, seed=0)
    actions = policy.act()            # (8,) int64
    policy.reset(terminated | truncated)
"""

from __future__ import annotations

from typing import Protocol

import gymnasium
import numpy as np

from envs import GameInfo

DOOM_HOLD_STEPS = (1, 10)
"""The World Models paper holds each random Doom action for 1-10 steps."""
ATARI_HOLD_STEPS = (1, 4)


class ExplorationPolicy(Protocol):
    def act(self) -> np.ndarray:
        """One action per env for this step, valid for the game's action space."""

    def reset(self, mask: np.ndarray) -> None:
        """Start afresh for the envs where `mask` (bool, (N,)) is True: a new episode began."""


class HeldRandomPolicy:
    """Uniform random discrete actions, each held for a uniform random 1..k steps.

    Holding makes the data show what an action does over time, which per-step
    uniform noise (jittering in place) would not.
    """

    def __init__(self, num_actions: int, num_envs: int, hold_steps: tuple[int, int], seed: int):
        self.num_actions = num_actions
        self.min_hold, self.max_hold = hold_steps
        self._rng = np.random.default_rng(seed)
        self._action = np.zeros(num_envs, dtype=np.int64)
        self._steps_left = np.zeros(num_envs, dtype=np.int64)  # 0: draw a new action

    def act(self) -> np.ndarray:
        expired = self._steps_left == 0
        count = int(expired.sum())
        self._action[expired] = self._rng.integers(self.num_actions, size=count)
        self._steps_left[expired] = self._rng.integers(self.min_hold, self.max_hold + 1, size=count)
        self._steps_left -= 1
        return self._action.copy()

    def reset(self, mask: np.ndarray) -> None:
        self._steps_left[mask] = 0


class SmoothDrivingPolicy:
    """CarRacing driving noise: steering is a slow mean-reverting random walk
    (Ornstein-Uhlenbeck) so the car turns both ways and leaves the track at times;
    gas wanders around 0.65 and mostly stays on; the brake is off except for short
    taps, during which the gas is released.
    """

    STEER_PULL, STEER_NOISE = 0.02, 0.06
    """Per-step pull toward 0 and noise: steering spreads ~0.3 and drifts over ~50 steps."""
    GAS_MEAN, GAS_PULL, GAS_NOISE = 0.65, 0.05, 0.05
    BRAKE_CHANCE, BRAKE_STEPS, BRAKE_FORCE = 0.01, (3, 10), (0.3, 0.8)
    """Per-step chance of starting a tap, its length in steps, its strength."""

    def __init__(self, action_space: gymnasium.spaces.Box, num_envs: int, seed: int):
        self.low, self.high = action_space.low, action_space.high  # steer, gas, brake
        self._rng = np.random.default_rng(seed)
        self._steer = np.zeros(num_envs)
        self._gas = np.zeros(num_envs)
        self._brake = np.zeros(num_envs)
        self._brake_steps_left = np.zeros(num_envs, dtype=np.int64)
        self.reset(np.ones(num_envs, dtype=bool))

    def act(self) -> np.ndarray:
        steer = self._drift(self._steer, 0.0, self.STEER_PULL, self.STEER_NOISE)
        self._steer = steer.clip(self.low[0], self.high[0])
        gas = self._drift(self._gas, self.GAS_MEAN, self.GAS_PULL, self.GAS_NOISE)
        self._gas = gas.clip(self.low[1], self.high[1])
        self._start_brake_taps()
        braking = self._brake_steps_left > 0
        gas = np.where(braking, 0.0, self._gas)
        brake = np.where(braking, self._brake, 0.0)
        self._brake_steps_left = np.maximum(self._brake_steps_left - 1, 0)
        return np.stack([self._steer, gas, brake], axis=1).astype(np.float32)  # (num_envs, 3)

    def reset(self, mask: np.ndarray) -> None:
        count = int(mask.sum())
        self._steer[mask] = self._rng.uniform(-0.3, 0.3, size=count)
        self._gas[mask] = self._rng.uniform(0.3, 1.0, size=count)
        self._brake_steps_left[mask] = 0

    def _drift(self, value: np.ndarray, mean: float, pull: float, noise: float) -> np.ndarray:
        """One Ornstein-Uhlenbeck step: pulled toward `mean`, plus Gaussian noise."""
        return value + pull * (mean - value) + noise * self._rng.standard_normal(len(value))

    def _start_brake_taps(self) -> None:
        idle = self._brake_steps_left == 0
        start = idle & (self._rng.random(len(idle)) < self.BRAKE_CHANCE)
        count = int(start.sum())
        low, high = self.BRAKE_STEPS
        self._brake_steps_left[start] = self._rng.integers(low, high + 1, size=count)
        self._brake[start] = self._rng.uniform(*self.BRAKE_FORCE, size=count)


def make_exploration_policy(game_info: GameInfo, num_envs: int, seed: int) -> ExplorationPolicy:
    """The data-collection policy for a game family, deterministic given `seed`."""
    if game_info.family == "carracing":
        return SmoothDrivingPolicy(game_info.action_space, num_envs, seed)
    if game_info.family == "doom":
        return HeldRandomPolicy(game_info.action_space.n, num_envs, DOOM_HOLD_STEPS, seed)
    if game_info.family == "atari":
        return HeldRandomPolicy(game_info.action_space.n, num_envs, ATARI_HOLD_STEPS, seed)
    raise ValueError(f"no exploration policy for {game_info.name} (family {game_info.family!r})")
