"""What a caller needs to know about a real game before playing it.

Cheap to build (no game process is started), so dream environments, controllers and
data collection can size themselves from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium


@dataclass(frozen=True)
class GameInfo:
    """Static facts about one real game, as `envs.make` builds it."""

    name: str
    """Canonical name, e.g. "Doom/TakeCover"; `envs.make(name)` builds the game."""
    family: str
    """"carracing", "doom" or "atari"."""
    action_space: gymnasium.Space
    """The action space of the env that `envs.make(name)` returns."""
    survival_reward: bool
    """True when the reward is +1 per step survived, so a world model need not predict it."""
    max_episode_steps: int
    """Agent steps after which an episode is truncated."""
    frame_skip: int
    """Game frames (tics) advanced per agent step."""
