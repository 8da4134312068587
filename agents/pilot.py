"""Who plays when no person does: the run's trained controller C, or the game's exploration
policy for a run without one. A Pilot is a named policy (envs.rollout.Policy: a batch of
observations in, a batch of actions out) for the one rollout loop; in the dream it sees [z, h],
in the real game the 64x64 frames (V and M supply [z, h]). `act_one` serves the play window,
which steps one DreamEnv observation at a time."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.controller import ControllerSpec, load_controller
from agents.latent import LatentController
from agents.exploration import make_exploration_policy
from agents.rollout import ControllerPolicy, Policy, SeesDreamFrames, to_numpy
from worldsim.world_model import WorldModel


class Pilot:
    def __init__(self, name: str, policy: Policy):
        self.name = name
        """What to tell the user, e.g. "controller"."""
        self.policy = policy

    def act(self, obs: Any) -> Any:
        return self.policy.act(obs)

    def reset(self, mask: np.ndarray) -> None:
        self.policy.reset(mask)

    def rewarded(self, rewards: np.ndarray) -> None:
        """Pass each step's rewards on to a policy that counts the score (envs.rollout.Policy)."""
        if hasattr(self.policy, "rewarded"):
            self.policy.rewarded(rewards)

    def act_one(self, obs: np.ndarray) -> Any:
        """The action for one observation: an int for a discrete game, a float32 vector for a Box."""
        action = to_numpy(self.act(np.asarray(obs)[None]))[0]
        return int(action) if action.ndim == 0 else action


def _load(checkpoint: Path, world: WorldModel) -> tuple[ControllerSpec, np.ndarray] | None:
    if not checkpoint.is_file():
        return None
    spec, params, _ = load_controller(checkpoint, env=world.env, obs_dim=world.obs_dim)
    return spec, params


def controller_in_dream(checkpoint: Path, world: WorldModel) -> Pilot | None:
    """C acting on a dream's [z, h] (one dream row); None when there is no checkpoint."""
    loaded = _load(checkpoint, world)
    if loaded is None:
        return None
    spec, params = loaded
    weights = torch.as_tensor(params, dtype=torch.float32, device=world.device)[None]  # (1, num_params)
    return Pilot("controller", ControllerPolicy(spec, weights))


def controller_in_real_game(checkpoint: Path, world: WorldModel) -> Pilot | None:
    """C acting on one real game's frames; None when there is no checkpoint."""
    loaded = _load(checkpoint, world)
    if loaded is None:
        return None
    return Pilot("controller", LatentController(world, *loaded, num_envs=1))


def exploration(world: WorldModel, seed: int, name: str = "", dream=None) -> Pilot:
    """The random-but-sensible policy that collected the training data (the game's exploration
    policy `name`, '' its default), for one row. It looks at frames: the real game's, or with
    `dream` (a batched dream of one row, whose observation is [z, h]) the dream's rendered ones."""
    policy = make_exploration_policy(world.game, 1, seed, name)
    return Pilot("random exploration policy", policy if dream is None else SeesDreamFrames(policy, dream))
