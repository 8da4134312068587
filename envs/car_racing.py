"""CarRacing (gymnasium box2d) as World Models sees it: the 96x96 frame without its
status bar (rows 84:96), resized to 64x64 RGB. Actions are gymnasium's own
continuous Box(3): steer in [-1, 1], gas in [0, 1], brake in [0, 1].
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium.wrappers import ResizeObservation, TransformObservation

from envs.game_info import GameInfo

GAME_ID = "CarRacing-v3"
FRAME_SIZE = 64
STATUS_BAR_ROW = 84
"""The speed/ABS/steering bar starts here; the World Models paper crops it away."""
EPISODE_STEPS = 1000
"""gymnasium's registered TimeLimit for CarRacing-v3."""


def make(render_mode: str | None = None) -> gymnasium.Env:
    """CarRacing with 64x64x3 uint8 observations, capped at 1000 steps."""
    env = gymnasium.make(GAME_ID, render_mode=render_mode, max_episode_steps=EPISODE_STEPS)
    width = env.observation_space.shape[1]
    cropped_space = gymnasium.spaces.Box(0, 255, (STATUS_BAR_ROW, width, 3), np.uint8)
    env = TransformObservation(env, lambda frame: frame[:STATUS_BAR_ROW], cropped_space)
    return ResizeObservation(env, (FRAME_SIZE, FRAME_SIZE))


DEFAULTS = {"collect": {"episodes": 100}, "vae": {"z_dim": 32, "epochs": 1}, "mdnrnn": {"hidden": 256, "steps": 5000},
            "controller": {"generations": 30}, "iterate": {"rounds": 0}}
"""Sizes of a CarRacing world model: the paper's z (32) and LSTM (256); 100 episodes of 1,000
steps for the `default` preset (200 did not transfer better across seeds, docs/RESULTS.md)."""

BRAKE = 2
"""Index of the brake in the action [steer, gas, brake]."""


def info() -> GameInfo:
    """CarRacing's GameInfo; building the env only creates a Box2D world, no window."""
    env = gymnasium.make(GAME_ID)
    action_space = env.action_space
    env.close()
    return GameInfo(
        name="CarRacing",
        family="carracing",
        action_space=action_space,
        survival_reward=False,
        max_episode_steps=EPISODE_STEPS,
        frame_skip=1,
        controller_output="continuous",
        clipped_outputs=(BRAKE,),
        exploration_policies=("road", "drift"),
        keys="driving",
        defaults=DEFAULTS,
    )
