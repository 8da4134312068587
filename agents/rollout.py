"""Playing whole episodes of a batched dream: the one loop that CMA-ES, the dream half of the
evaluation and the dream-fidelity benchmark share. Its policies follow envs.runner.Policy, the
contract of the real-game runner too (act on a batch of observations; reset rows that begin an
episode), so one policy object can serve both worlds."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from agents.controller import ControllerSpec
from envs.runner import Policy


class ControllerPolicy:
    """C with its own parameters in each row: params (rows, num_params). Rows can be dropped
    (`keep`) as their episodes end, so a batch of finished episodes stops costing compute."""

    def __init__(self, spec: ControllerSpec, params: torch.Tensor):
        self.spec, self.params = spec, params

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        return self.spec.actions(self.params, obs)

    def keep(self, mask: torch.Tensor) -> None:
        self.params = self.params[mask]


class SeesDreamFrames:
    """A policy that looks at frames (an exploration policy) playing in a dream, whose
    observations are [z, h]: it is shown the dream's rendered frames, or None when it does not
    look at them (policy.needs_frames)."""

    def __init__(self, policy, dream):
        self.policy, self.dream = policy, dream

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        frames = self.dream.render().cpu().numpy() if self.policy.needs_frames else None
        return torch.as_tensor(self.policy.act(frames), device=obs.device)


@dataclass
class Rollout:
    returns: np.ndarray
    """(episodes,) total reward of each episode"""
    steps: np.ndarray
    """(episodes,) steps each episode lasted"""
    ended: np.ndarray
    """(episodes,) bool: the episode ended in the game (terminated) rather than at the step cap"""


@torch.no_grad()
def rollout(dream, policy: Policy) -> Rollout:
    """One episode in every row of `dream` (a batched dream: worldsim.dream), played by `policy`
    (as built: a fresh policy has every row at an episode's start) from a reset to its end. Where
    the policy can drop rows (ControllerPolicy.keep), finished episodes leave the batch once half
    of it has finished; otherwise every row is stepped to the end, finished ones included."""
    n, device = dream.num_envs, dream.device
    total = torch.zeros(n, device=device)
    steps = torch.zeros(n, dtype=torch.long, device=device)
    ended = torch.zeros(n, dtype=torch.bool, device=device)
    index = torch.arange(n, device=device)  # (live rows,) which episode each row plays
    alive = torch.ones(n, dtype=torch.bool, device=device)  # (live rows,)
    compact = hasattr(policy, "keep")
    obs = dream.reset()
    while alive.any():
        obs, reward, terminated, truncated = dream.step(policy.act(obs))
        total[index] += reward * alive
        steps[index] += alive.long()
        ended[index] |= alive & terminated
        alive &= ~(terminated | truncated)
        if compact and alive.float().mean() < 0.5:
            dream.keep(alive)
            policy.keep(alive)
            obs, index, alive = obs[alive], index[alive], alive[alive]
    return Rollout(total.cpu().numpy(), steps.cpu().numpy(), ended.cpu().numpy())
