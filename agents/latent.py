"""C in the real game: V and M track the latent state [z, h] the controller reads, as in either
dream, one row per game process."""
from __future__ import annotations

import numpy as np
import torch

from agents.controller import ControllerSpec
from worldsim.models.mdnrnn import add_points
from worldsim.models.vae import frames_to_tensor
from worldsim.world_model import WorldModel


class LatentController:
    """Acts in the real game like C does in the dream: V encodes each frame to z (its mean),
    M's LSTM carries h forward with the action taken, and C acts on [z, h]. A score-reading M
    (mdnrnn.score_scale) reads the points the game has paid this episode, which the rollout
    loop tells it (`rewarded`).

    params (num_params,): one controller in every game process; or (episodes, num_params): episode
    i is played by row i, the rows handed out in the order the runner starts episodes (slot by
    slot, as envs.runner.run_episodes does), e.g. a CMA-ES population's candidates."""

    def __init__(self, world: WorldModel, spec: ControllerSpec, params: np.ndarray, num_envs: int):
        self.world, self.spec = world, spec
        params = torch.as_tensor(params, dtype=torch.float32, device=world.device)
        self.per_episode = params[None] if params.ndim == 1 else params  # (episodes, num_params)
        self.params = self.per_episode[:1].expand(num_envs, -1).clone()  # (num_envs, num_params)
        self.started = 0  # episodes begun so far
        self.h, self.c = world.mdnrnn.initial_state(num_envs, world.device)  # (1, num_envs, hidden)
        self.score = torch.zeros(num_envs, 2, device=world.device)  # (num_envs, 2) points won, lost so far

    def reset(self, mask: np.ndarray) -> None:
        """New episodes begin where `mask` is True: M's state starts at zero, and with one row of
        params per episode each takes the next row (past the last, the last: an idle slot)."""
        mask_t = torch.as_tensor(mask, device=self.world.device)
        self.h[:, mask_t] = 0.0
        self.c[:, mask_t] = 0.0
        self.score[mask_t] = 0.0
        if len(self.per_episode) > 1:
            for slot in np.flatnonzero(mask):
                self.params[slot] = self.per_episode[min(self.started, len(self.per_episode) - 1)]
                self.started += 1

    @torch.no_grad()
    def act(self, frames: np.ndarray) -> np.ndarray:
        z = self.encode(frames)
        return self.advance(z, self.choose(z))

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """V's z (its mean) of a batch of frames: (num_envs, z_dim)."""
        return self.world.vae.encode(frames_to_tensor(frames, self.world.device))[0]

    def choose(self, z: torch.Tensor) -> torch.Tensor:
        """C's actions for the current [z, h] (or [z, c, h])."""
        return self.spec.actions(self.params, self.world.controller_input(z, self.h[0], self.c[0]))

    @torch.no_grad()
    def advance(self, z: torch.Tensor, actions: torch.Tensor) -> np.ndarray:
        """Carry M's h forward with the actions taken; returns them for the game."""
        self.h, self.c = self.world.mdnrnn.advance(z, actions, (self.h, self.c), self.score)
        return actions.cpu().numpy()

    def rewarded(self, rewards) -> None:
        """Count what the game paid each row this step (before finished rows restart)."""
        self.score = add_points(self.score, torch.as_tensor(rewards, dtype=torch.float32, device=self.world.device))
