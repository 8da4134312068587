"""The learned game ("dream"): M rolls the latent state forward, sampling z_{t+1} at temperature
tau, ending episodes from its done head and paying its reward (or +1 per step survived).
BatchedDream steps N dream episodes as one tensor operation; the gymnasium forms wrap it."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from worldsim.models.mdnrnn import MDNOutput, MDNStepper, dropout_mask
from worldsim.models.vae import frames_to_tensor

if TYPE_CHECKING:  # the world builds its dream (WorldModel.dream), the dream only reads the world
    from worldsim.world_model import WorldModel


class BatchedDream:
    """N dream episodes on one device. Observations are [z, h] (the paper's controller input), or
    [z, c, h] where the run's controller.inputs asks for M's cell state too."""

    def __init__(self, world: WorldModel, num_envs: int, temperature: float = 1.15,
                 max_steps: int | None = None, seed: int | None = None, dtype: torch.dtype = torch.float32,
                 compile: bool = False):
        self.world, self.num_envs, self.temperature = world, num_envs, temperature
        self.max_steps = max_steps or world.game.max_episode_steps
        self.device = world.device
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(0 if seed is None else seed)
        self.m = MDNStepper(world.mdnrnn, dtype, compile)
        self.z = torch.zeros(num_envs, world.z_dim, device=self.device)  # (num_envs, z_dim)
        self.h = torch.zeros(num_envs, world.mdnrnn.hidden, device=self.device)  # (num_envs, hidden)
        self.c = torch.zeros_like(self.h)
        self.t = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        # per-episode dropout masks over M's cell input [z, a, h] (world.dream_dropout; None: off)
        self.drop = None
        if world.dream_dropout > 0:
            m = world.mdnrnn
            self.drop = torch.ones(num_envs, m.z_dim + m.action_dim + m.hidden, device=self.device)

    def seed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    @property
    def obs(self) -> torch.Tensor:
        """(num_envs, world.obs_dim) float32: [z, h], or [z, c, h] (world.controller_inputs)."""
        return self.world.controller_input(self.z, self.h, self.c)

    @torch.no_grad()
    def reset(self, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Start new episodes where `mask` is True (all when None) from latents of real first frames."""
        mask = torch.ones(self.num_envs, dtype=torch.bool, device=self.device) if mask is None else mask
        n = int(mask.sum())
        if n:
            pick = torch.randint(len(self.world.start_mu), (n,), device=self.device, generator=self.generator)
            eps = torch.randn(n, self.world.z_dim, device=self.device, generator=self.generator)
            self.z[mask] = self.world.start_mu[pick] + eps * torch.exp(0.5 * self.world.start_logvar[pick])
            self.h[mask] = 0.0
            self.c[mask] = 0.0
            self.t[mask] = 0
            self._draw_dropout(mask)
        return self.obs

    def _draw_dropout(self, mask: torch.Tensor) -> None:
        """New dropout masks for the episodes starting where `mask` is True: each unit of M's cell
        input kept with probability 1 - p and then scaled by 1 / (1 - p), as M was trained
        (MDNRNN.forward_dropout), the same for the whole episode, so each episode is its own
        variant of the world (Dropout's Dream Land)."""
        if self.drop is None:
            return
        shape = (int(mask.sum()), self.drop.shape[1])
        self.drop[mask] = dropout_mask(shape, self.world.dream_dropout, self.generator, self.device)

    @torch.no_grad()
    def reset_to(self, z: torch.Tensor) -> torch.Tensor:
        """Start every episode afresh from the given latents (num_envs, z_dim), e.g. V's encoding of
        a real frame, so the dream can be compared step by step with the real game."""
        self.z = z.to(self.device, torch.float32).reshape(self.num_envs, self.world.z_dim).clone()
        self.h.zero_()
        self.c.zero_()
        self.t.zero_()
        self._draw_dropout(torch.ones(self.num_envs, dtype=torch.bool, device=self.device))
        return self.obs

    @torch.no_grad()
    def reset_to_frames(self, frames) -> torch.Tensor:
        """Start every episode afresh from real frames (num_envs, 64, 64, 3) uint8: z is V's
        encoding (its mean) of each, as the controller sees the real game."""
        mu, _ = self.world.vae.encode(frames_to_tensor(frames, self.device))
        return self.reset_to(mu)

    @torch.no_grad()
    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """actions: (num_envs,) indices or (num_envs, action_dim). Returns obs, reward, terminated,
        truncated, each with num_envs rows; finished episodes stay finished until reset."""
        self.z, self.h, self.c, reward, done_logit = self.m.step(self.z, actions, self.h, self.c,
                                                                 self.temperature, self.generator, self.drop)
        return self._finish_step(reward, done_logit)

    def _advance_m(self, actions: torch.Tensor) -> MDNOutput:
        """M reads (z_t, a_t) and carries h forward; returns its predictions for step t+1."""
        out, self.h, self.c = self.m(self.z, actions, self.h, self.c, self.drop)
        return out

    def _finish_step(self, reward: torch.Tensor, done_logit: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Count the step, draw episode ends from M's done head (done_logit, one per episode) and
        pay the step's reward (M's, or +1 per step survived)."""
        self.t += 1
        terminated = self._done(done_logit)
        if not self.world.predict_reward:
            reward = torch.ones(self.num_envs, device=self.device)
        truncated = (self.t >= self.max_steps) & ~terminated
        return self.obs, reward, terminated, truncated

    def _done(self, logit: torch.Tensor) -> torch.Tensor:
        """Episode ends from M's done head. M was trained with episode ends weighted w times
        (positives are rare), which inflates its odds by w; dividing them back out gives the
        probability p of the game ending at this step. The "sample" rule ends with probability p,
        so a state the model finds risky stays risky however rarely it crosses one half. The
        "threshold" rule (the paper's reference code) ends surely once the weighted logit
        crosses 0, i.e. p > 1 / (1 + w), and never below it."""
        if self.world.done_rule == "threshold":
            return logit > 0
        p = torch.sigmoid(logit - math.log(self.world.done_pos_weight))
        return torch.rand(p.shape, device=p.device, generator=self.generator) < p

    def keep(self, mask: torch.Tensor) -> None:
        """Drop the episodes where `mask` is False (so finished ones stop costing compute)."""
        self.z, self.t = self.z[mask], self.t[mask]
        self.h, self.c = self.h[mask], self.c[mask]
        if self.drop is not None:
            self.drop = self.drop[mask]
        self.num_envs = int(mask.sum())

    @torch.no_grad()
    def render(self) -> torch.Tensor:
        """V's picture of the current latents: (num_envs, 64, 64, 3) uint8."""
        frames = self.world.vae.decode(self.z)
        return (frames.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1)
