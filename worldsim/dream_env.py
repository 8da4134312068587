"""The dream with the real game's gymnasium interface: `DreamEnv` (one episode, passes
gymnasium's env checker) and `DreamVectorEnv` (N episodes as one tensor operation). Either
wraps either dream: model="vm" (V+M's, worldsim.dream) or model="gamegan" (GameGAN's, rendered
by checkpoints/GAMEGAN_NAME.pt, worldsim.gamegan_dream); both observe [z, h]. Registered on
`import worldsim` as "worldsim/Dream-v0" (V+M) and "worldsim/GameGANDream-v0" (GameGAN):

    env = gymnasium.make("worldsim/Dream-v0", run_dir="runs/doom-takecover-default")   # at the run's tau
    vec = gymnasium.make_vec("worldsim/Dream-v0", num_envs=1024, run_dir=..., vectorization_mode="vector_entry_point")
    gan = gymnasium.make("worldsim/GameGANDream-v0", run_dir=..., temperature=1.0)      # or another tau
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv

from worldsim.dream import BatchedDream, Dream
from worldsim.gamegan_dream import BatchedGameGANDream
from worldsim.run import resolve_device
from worldsim.world_model import GameGANWorld, WorldModel, load_world


def make_dream(world: WorldModel, num_envs: int, temperature: float | None = None, max_steps: int | None = None,
               seed: int | None = None, dtype: torch.dtype = torch.float32, compile: bool = False) -> Dream:
    """`world`'s batched dream of num_envs episodes: GameGAN's for a GameGANWorld, else V+M's.
    temperature None: the run's; max_steps None: the game's episode cap; compile: M's step fused
    by torch.compile."""
    kind = BatchedGameGANDream if isinstance(world, GameGANWorld) else BatchedDream
    return kind(world, num_envs, temperature, max_steps, seed=seed, dtype=dtype, compile=compile)


def _spaces(world: WorldModel) -> tuple[gym.spaces.Box, gym.Space]:
    obs = gym.spaces.Box(-np.inf, np.inf, (world.obs_dim,), np.float32)
    return obs, world.game.action_space


def _action_tensor(world: WorldModel, action: Any, batch: int) -> torch.Tensor:
    if world.mdnrnn.discrete_actions:
        return torch.as_tensor(np.asarray(action, dtype=np.int64).reshape(batch), device=world.device)
    return torch.as_tensor(np.asarray(action, dtype=np.float32).reshape(batch, -1), device=world.device)


class DreamEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, run_dir: str | Path | None = None, temperature: float | None = None, device: str = "cpu",
                 max_episode_steps: int | None = None, render_mode: str | None = None,
                 world: WorldModel | None = None, model: str = "vm", gamegan_name: str | None = None):
        """world: an already loaded world model (WorldModel or GameGANWorld; its family picks the
        dream); otherwise the run's model "vm" or "gamegan" (GameGAN checkpoints/GAMEGAN_NAME.pt,
        None: the run's gamegan.name) is loaded from run_dir. temperature None: the run's."""
        self.world = world or load_world(run_dir, resolve_device(device), model, gamegan_name)
        self.observation_space, self.action_space = _spaces(self.world)
        self.render_mode = render_mode
        self.dream = make_dream(self.world, 1, temperature, max_episode_steps)

    @property
    def temperature(self) -> float:
        return self.dream.temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self.dream.temperature = float(value)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """options={"frame": (64, 64, 3) uint8} starts from that real frame, and (V+M dream only)
        options={"z": latent of shape (z_dim,)} from that latent (e.g. V's encoding of a real
        frame), instead of the first frame of a randomly picked real episode."""
        super().reset(seed=seed)
        if seed is not None:
            self.dream.seed(seed)
        options = options or {}
        if "frame" in options:
            obs = self.dream.reset_to_frames(np.asarray(options["frame"], dtype=np.uint8)[None])
        elif "z" in options:
            if not isinstance(self.dream, BatchedDream):
                raise ValueError(f"the {self.world.label} starts from a frame: reset(options={{'frame': ...}})")
            obs = self.dream.reset_to_latents(torch.as_tensor(options["z"], device=self.world.device)[None])
        else:
            obs = self.dream.reset()
        return obs[0].cpu().numpy(), {}

    def step(self, action):
        if isinstance(self.action_space, gym.spaces.Box):
            action = np.asarray(action, dtype=self.action_space.dtype)
        if not self.action_space.contains(action):
            raise gym.error.InvalidAction(f"action {action!r} is not in {self.action_space}")
        obs, reward, terminated, truncated = self.dream.step(_action_tensor(self.world, action, 1))
        return obs[0].cpu().numpy(), float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}

    def render(self):
        if self.render_mode == "rgb_array":
            return self.dream.render()[0].cpu().numpy()
        return None


class DreamVectorEnv(VectorEnv):
    """N dream episodes stepped together; finished ones restart on the next step (gymnasium's
    NEXT_STEP autoreset). `step_tensors` skips the numpy round trip for torch callers."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, run_dir: str | Path | None = None, temperature: float | None = None,
                 device: str = "cpu", max_episode_steps: int | None = None, render_mode: str | None = None,
                 world: WorldModel | None = None, model: str = "vm", gamegan_name: str | None = None):
        self.world = world or load_world(run_dir, resolve_device(device), model, gamegan_name)
        self.num_envs = num_envs
        self.single_observation_space, self.single_action_space = _spaces(self.world)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.render_mode = render_mode
        self.dream = make_dream(self.world, num_envs, temperature, max_episode_steps)
        self._restart = torch.zeros(num_envs, dtype=torch.bool, device=self.world.device)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.dream.seed(seed)
        self._restart[:] = False
        return self.dream.reset().cpu().numpy(), {}

    def step_tensors(self, actions: torch.Tensor):
        """Torch in, torch out: (obs, reward, terminated, truncated), each (num_envs, ...)."""
        obs, reward, terminated, truncated = self.dream.step(actions)
        if self._restart.any():
            obs = self.dream.reset(self._restart)
            reward = torch.where(self._restart, 0.0, reward)
            terminated = terminated & ~self._restart
            truncated = truncated & ~self._restart
        self._restart = terminated | truncated
        return obs, reward, terminated, truncated

    def step(self, actions):
        obs, reward, terminated, truncated = self.step_tensors(_action_tensor(self.world, actions, self.num_envs))
        return (obs.cpu().numpy(), reward.cpu().numpy(), terminated.cpu().numpy(),
                truncated.cpu().numpy(), {})

    def render(self):
        return tuple(self.dream.render().cpu().numpy()) if self.render_mode == "rgb_array" else None
