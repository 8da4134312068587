"""GameGAN, the generator: dynamics engine + memory module + rendering engine. `rollout`
simulates a clip (teacher-forced for the first warm-up steps, then on its own frames);
`init_state` and `step` drive a batched dream one action at a time."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from worldsim.checkpoint import load_checkpoint
from worldsim.config import GameGANConfig
from worldsim.models.gamegan.dynamics import DynamicsEngine
from worldsim.models.gamegan.memory import Memory
from worldsim.models.gamegan.renderer import SimpleRenderer, Skip, SpecializedRenderer


class GameGANState(NamedTuple):
    """What the simulated game carries from step to step (batched; tensors, so a dream of N
    episodes is one state)."""

    h: torch.Tensor  # (batch, hidden) dynamics engine state
    c: torch.Tensor  # (batch, hidden) LSTM cell
    frame: torch.Tensor  # (batch, 3, 64, 64) in [0, 1]: x_t, the frame the next step reads
    memory: torch.Tensor | None  # (batch, H*W, D) memory block
    alpha: torch.Tensor | None  # (batch, H, W) attention location
    read: torch.Tensor | None  # (batch, D) last memory read m_t
    before: torch.Tensor | None = None  # (batch, 3, 64, 64): x_{t-1}, the frame the last step read
    spatial: torch.Tensor | None = None  # (batch, spatial, 16, 16): the spatial state S_t (gamegan.spatial)
    spatial_cell: torch.Tensor | None = None  # (batch, spatial, 16, 16): its cell


def as_frames(frames) -> torch.Tensor:
    """uint8 or float frames (..., 3, 64, 64) or uint8 (..., 64, 64, 3), tensor or numpy ->
    float (..., 3, 64, 64) in [0, 1]."""
    frames = torch.as_tensor(frames)
    if frames.dtype == torch.uint8:
        if frames.shape[-1] == 3 and frames.shape[-3] != 3:
            frames = frames.movedim(-1, -3)
        return frames.float().div_(255.0)
    return frames.float()


class GameGAN(nn.Module):
    def __init__(self, config: GameGANConfig, action_dim: int, discrete_actions: bool,
                 flip_pairs: Sequence[tuple[int, int]] = ()):
        """action_dim: number of discrete actions, or the size of a continuous action vector."""
        super().__init__()
        self.config = config
        self.action_dim, self.discrete_actions = action_dim, discrete_actions
        self.flip_pairs = [tuple(p) for p in flip_pairs]
        if config.renderer not in ("simple", "specialized"):
            raise ValueError(f"gamegan.renderer must be 'simple' or 'specialized', not '{config.renderer}'")
        if config.drawn_weight > 0 and not config.skip:
            raise ValueError("gamegan.drawn_weight scores the renderer's drawing before the copy skip: "
                             "it needs gamegan.skip true")
        read_dim = config.memory_dim if config.memory else 0
        self.dynamics = DynamicsEngine(config.hidden, action_dim, config.noise_dim, read_dim, config.channels,
                                       config.action_embed, config.encoder_norm, config.background_gain,
                                       config.spatial)
        self.memory = Memory(config.memory_height, config.memory_width, config.memory_dim, config.hidden,
                             action_dim, discrete_actions, flip_pairs, config.kernel_temperature) \
            if config.memory else None
        skip = Skip.of(config)
        if config.renderer == "simple":
            self.renderer = SimpleRenderer(config.hidden, read_dim, config.channels, config.output, skip,
                                           config.spatial, config.clamp_inward)
        else:
            self.renderer = SpecializedRenderer(config.hidden, read_dim, config.channels, config.components,
                                                config.type_dim, config.attribute_dim, config.map_size, config.output,
                                                skip, config.spatial, config.clamp_inward)

    @property
    def specialized(self) -> bool:
        return isinstance(self.renderer, SpecializedRenderer)

    def encode_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """Discrete indices (...) -> one-hot (..., action_dim); continuous (..., action_dim) pass through."""
        if self.discrete_actions:
            return F.one_hot(actions.long(), self.action_dim).float()
        return actions.float()

    def init_state(self, first_frame: torch.Tensor) -> GameGANState:
        """The state before the first action, from x_0 (batch, 3, 64, 64) (float in [0, 1] or uint8)."""
        x = as_frames(first_frame)
        h, c, spatial, spatial_cell = self.dynamics.initial_state(x)
        memory = alpha = read = None
        if self.memory is not None:
            memory, alpha = self.memory.initial_state(len(x), x.device)
            read = self.memory.read(memory, alpha)
        return GameGANState(h, c, x, memory, alpha, read, x, spatial, spatial_cell)

    def step(self, state: GameGANState, action: torch.Tensor,
             noise: torch.Tensor | None = None) -> tuple[GameGANState, dict[str, torch.Tensor]]:
        """Take action a_t (batch,) or (batch, action_dim) in state -> (next state, render output:
        'frame' x_{t+1} (batch, 3, 64, 64) and, with the specialized renderer, its 'masks',
        'components' and 'sketch'). noise z_t (batch, noise_dim) is drawn from N(0, I) when None."""
        a = self.encode_actions(action)
        if noise is None:
            noise = torch.randn(len(a), self.config.noise_dim, device=a.device)
        memory = alpha = read = None
        if self.memory is not None:
            alpha = self.memory.attend(state.alpha, a, state.h)
        h, c, spatial, spatial_cell = self.dynamics(state.h, state.c, state.frame, a, noise, state.read,
                                                    state.spatial, state.spatial_cell)
        if self.memory is not None:
            memory = self.memory.write(state.memory, alpha, h)
            read = self.memory.read(memory, alpha)
        out = self.renderer(h, read, state.frame, state.before, spatial)
        return GameGANState(h, c, out["frame"], memory, alpha, read, state.frame, spatial, spatial_cell), out

    def rollout(self, frames: torch.Tensor, actions: torch.Tensor, warm_up: int,
                noise: torch.Tensor | None = None, cycle: bool = False) -> dict[str, torch.Tensor]:
        """Simulate T = actions.shape[1] steps from the real x_0 = frames[:, 0].

        frames (batch, >= min(warm_up, T), 3, 64, 64), float in [0, 1] or uint8: x_0, x_1, ...
        actions (batch, T) or (batch, T, action_dim): a_t is taken at x_t.
        Steps t < warm_up read the real x_t (teacher forcing); later steps read their own x_t.
        x_0 is always real, so warm_up 0 and 1 are the same.
        cycle: also re-read the final memory at every step's attention location and render the
        static component from those reads (the cycle loss's 'cycle_static').

        Returns frames (batch, T, 3, 64, 64) = x_1..x_T generated; inputs (batch, T, 3, 64, 64) the
        x_t each step read; hidden (batch, T, hidden); noise (batch, T, noise_dim); with memory,
        alphas (batch, T, H, W) and reads (batch, T, D); with the specialized renderer, masks
        (batch, T, K, 1, 64, 64) and components (batch, T, K, 3, 64, 64); with the copy skip, keep
        (batch, T, 1, 64, 64) and drawn (batch, T, 3, 64, 64), the renderer's own drawing before
        the skip blends it in; with the motion skip, motion (batch, T, options, 64, 64), the
        per-pixel choice of "stay" (first), a kernel, or (with motion_local, motion_bounce) keep
        moving and its turns (see MotionSkip.forward)."""
        x = as_frames(frames)
        b, steps = actions.shape[:2]
        needed = min(max(1, warm_up), steps)
        if x.shape[1] < needed:
            raise ValueError(f"rollout with warm_up {warm_up} needs {needed} real frames, got {x.shape[1]}")
        if noise is None:
            noise = torch.randn(b, steps, self.config.noise_dim, device=x.device)
        state = self.init_state(x[:, 0])
        keep = ("frame", "masks", "components", "keep", "motion", "drawn")
        record: dict[str, list[torch.Tensor]] = {"inputs": [], "hidden": [], "alphas": [], "reads": []}
        for t in range(steps):
            if 0 < t < warm_up:
                state = state._replace(frame=x[:, t])
            elif t > 0 and self.config.detach_input:
                state = state._replace(frame=state.frame.detach())  # its own frame, read without a gradient
            record["inputs"].append(state.frame)
            state, out = self.step(state, actions[:, t], noise[:, t])
            record["hidden"].append(state.h)
            if self.memory is not None:
                record["alphas"].append(state.alpha)
                record["reads"].append(state.read)
            for key in keep:
                if key in out:
                    record.setdefault(key, []).append(out[key])
        result = {("frames" if k == "frame" else k): torch.stack(v, dim=1) for k, v in record.items() if v}
        result["noise"] = noise
        if cycle and self.memory is not None and self.specialized:
            result["cycle_static"] = self.reread_static(state.memory, result["alphas"])
        return result

    forward = rollout  # DistributedDataParallel wraps forward

    def reread_static(self, memory: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        """Read `memory` (batch, H*W, D) at the locations alphas (batch, T, H, W) and render the
        static component from those reads alone -> (batch, T, 3, 64, 64)."""
        b, t = alphas.shape[:2]
        reads = torch.einsum("btn,bnd->btd", alphas.flatten(2), memory)
        return self.renderer.render_static(reads.flatten(0, 1)).view(b, t, 3, 64, 64)


def load_gamegan(path: str | Path, env: str | None = None, device: str | torch.device = "cpu") -> tuple[GameGAN, dict]:
    """The generator of a GameGAN checkpoint (eval mode) and the checkpoint's metadata."""
    ckpt = load_checkpoint(path, kind="gamegan", env=env)
    m = ckpt["meta"]
    model = GameGAN(GameGANConfig(**stored_config(m)), m["action_dim"], m["discrete_actions"], m["flip_pairs"])
    model.load_state_dict(submodule_state(ckpt["model"], "generator."))
    return model.to(device).eval(), m


LEGACY_FIELDS = {"output": "sigmoid", "encoder_norm": False, "kernel_temperature": 1.0, "spectral_norm": False,
                 "skip": False, "motion_kernels": 0, "motion_radius": 4, "background_gain": 0.0,
                 "motion_sharp": False, "motion_local": False, "motion_bounce": False, "keep_sharp": False,
                 "motion_onward": False, "spatial": 0}
"""Architecture fields added after the first checkpoints were written, with the value those
checkpoints were trained with (not today's default)."""


def stored_config(meta: dict) -> dict:
    """A checkpoint's gamegan config, fields it predates filled with the values it was trained with."""
    return {**LEGACY_FIELDS, **meta["gamegan"]}


def submodule_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries of a state dict under `prefix` (e.g. "generator."), with the prefix dropped."""
    return {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
