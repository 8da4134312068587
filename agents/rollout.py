"""Policies for the one rollout loop (envs.rollout.rollout, re-exported here), which plays the
dreams and the real games alike: C with a row of parameters per episode (ControllerPolicy), a
frame-reading policy shown a dream's rendered frames (SeesDreamFrames), and a fixed sequence of
actions (Replay). Each follows envs.rollout.Policy: act on a batch of observations, be told
which rows begin an episode."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from agents.controller import ControllerSpec
from envs.rollout import EpisodeResult, Policy, Rollout, rollout, to_numpy

__all__ = ["ControllerPolicy", "EpisodeResult", "Policy", "Replay", "Rollout", "SeesDreamFrames", "rollout", "to_numpy"]


class ControllerPolicy:
    """C with its own parameters in each row: params (rows, num_params). Rows can be dropped
    (`keep`) as their episodes end, so a batch of finished episodes stops costing compute."""

    def __init__(self, spec: ControllerSpec, params: torch.Tensor):
        self.spec, self.params = spec, params

    def act(self, obs) -> torch.Tensor:
        return self.spec.actions(self.params, torch.as_tensor(obs, dtype=torch.float32, device=self.params.device))

    def reset(self, mask: np.ndarray) -> None:
        """C keeps no state of its own between steps (M's state is the dream's): nothing to clear."""

    def keep(self, mask: np.ndarray) -> None:
        self.params = self.params[torch.as_tensor(mask, device=self.params.device)]


class SeesDreamFrames:
    """A policy that looks at frames (an exploration policy) playing in a dream, whose
    observations are [z, h]: it is shown the dream's rendered frames, or None when it does not
    look at them (policy.needs_frames)."""

    def __init__(self, policy, dream):
        self.policy, self.dream = policy, dream

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        frames = self.dream.render().cpu().numpy() if self.policy.needs_frames else None
        return torch.as_tensor(self.policy.act(frames), device=obs.device)

    def reset(self, mask: np.ndarray) -> None:
        self.policy.reset(mask)


class Replay:
    """The same given actions in every row, one per step (`sequence`, restarting with each
    episode): e.g. the memory check's out-and-back path."""

    def __init__(self, sequence: Sequence, num_envs: int):
        self.sequence = np.asarray(sequence)
        self.t = np.zeros(num_envs, dtype=np.int64)  # (rows,) steps into the sequence

    def act(self, obs) -> np.ndarray:
        actions = self.sequence[np.minimum(self.t, len(self.sequence) - 1)]
        self.t += 1
        return actions

    def reset(self, mask: np.ndarray) -> None:
        self.t[mask] = 0
