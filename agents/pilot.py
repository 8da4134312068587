"""Who plays when no person does: the run's trained controller C, or the game's exploration
policy for a run without one. A Pilot maps one observation to one action of the game's space;
in the dream it sees [z, h], in the real game the 64x64 frame (V and M supply [z, h])."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import torch

from agents.controller import ControllerSpec, load_controller
from agents.evaluate import LatentController
from agents.exploration import make_exploration_policy
from worldsim.world_model import WorldModel


class Pilot(NamedTuple):
    name: str
    """What to tell the user, e.g. "controller"."""
    act: Callable[[np.ndarray], Any]


def _first(actions: np.ndarray) -> Any:
    """Row 0 of a batch of actions: an int for a discrete game, a float32 vector for a Box."""
    action = actions[0]
    return int(action) if action.ndim == 0 else action


def _load(checkpoint: Path, world: WorldModel) -> tuple[ControllerSpec, np.ndarray] | None:
    if not checkpoint.is_file():
        return None
    spec, params, _ = load_controller(checkpoint, env=world.env, obs_dim=world.obs_dim)
    return spec, params


def controller_in_dream(checkpoint: Path, world: WorldModel) -> Pilot | None:
    """C acting on DreamEnv observations; None when there is no checkpoint."""
    loaded = _load(checkpoint, world)
    if loaded is None:
        return None
    spec, params = loaded
    weights = torch.as_tensor(params, dtype=torch.float32, device=world.device)[None]  # (1, num_params)

    def act(obs: np.ndarray) -> Any:
        x = torch.as_tensor(obs, dtype=torch.float32, device=world.device)[None]  # (1, obs_dim)
        return _first(spec.actions(weights, x).cpu().numpy())

    return Pilot("controller", act)


def controller_in_real_game(checkpoint: Path, world: WorldModel) -> Pilot | None:
    """C acting on one real game's frames, one episode long; None when there is no checkpoint."""
    loaded = _load(checkpoint, world)
    if loaded is None:
        return None
    latent = LatentController(world, *loaded, num_envs=1)
    return Pilot("controller", lambda frame: _first(latent.act(frame[None])))


def exploration(world: WorldModel, seed: int, frame: Callable[[Any], np.ndarray] = lambda obs: obs,
                name: str = "") -> Pilot:
    """The random-but-sensible policy that collected the training data (the game's exploration
    policy `name`, '' its default). `frame` turns the pilot's observation into the (64, 64, 3)
    frame the policy looks at: the observation itself in the real game; in the dream, whose
    observation is [z, h], the dream's rendered frame."""
    policy = make_exploration_policy(world.game, 1, seed, name)
    return Pilot("random exploration policy", lambda obs: _first(policy.act(frame(obs)[None])))
