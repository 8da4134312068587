"""A trained V+M pair loaded from a run directory, with what the dream needs besides the
networks: the game's facts and the latent starting points of the real episodes; and the same
with a trained GameGAN beside it (`GameGANWorld`), whose dream GameGAN renders while V and M
supply the controller's [z, h], the episode ends and the rewards (see worldsim/gamegan_dream.py).
`worldsim.dream_env.make_dream(world, num_envs, ...)` makes either world's batched dream."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

import envs
from worldsim.checkpoint import CheckpointError
from worldsim.config import ControllerConfig
from worldsim.data.episodes import list_episodes, load_first_frames
from worldsim.data.latents import load_latents
from worldsim.models.gamegan import GameGAN, load_gamegan
from worldsim.models.mdnrnn import MDNRNN, load_mdnrnn
from worldsim.models.vae import ConvVAE, load_vae
from worldsim.run import RunDir, RunDirError


CONTROLLER_INPUTS = ("zh", "zch", "z")
"""Observations C can read: the paper's [z, h], [z, c, h] with M's LSTM cell state as well, or z
alone (the paper's "V model only" ablation)."""
DONE_RULES = ("sample", "threshold")
"""How the dream ends episodes from M's done head (controller.dream_done, see worldsim.dream)."""


@dataclass
class WorldModel:
    family: ClassVar[str] = "vm"
    """World model family: "vm" (V+M's dream) or "gamegan" (GameGAN's dream)."""

    env: str
    game: envs.GameInfo
    vae: ConvVAE
    mdnrnn: MDNRNN
    predict_reward: bool
    done_pos_weight: float  # weight M's done loss gave to episode ends (to undo when sampling)
    start_mu: torch.Tensor  # (episodes, z_dim) V's posterior of each real episode's first frame
    start_logvar: torch.Tensor  # (episodes, z_dim)
    device: torch.device
    controller_inputs: str = field(default="zh", kw_only=True)
    """What C reads (the run's controller.inputs): "zh", the paper's [z, h]; "zch", [z, c, h]; "z"."""
    done_rule: str = field(default="sample", kw_only=True)
    """How the dream ends episodes (the run's controller.dream_done): "sample" or "threshold"."""
    temperature: float = field(default=ControllerConfig.temperature, kw_only=True)
    """The dream's temperature tau unless one is given (the run's controller.temperature)."""
    dream_dropout: float = field(default=0.0, kw_only=True)
    """Dropout rate of each dream episode's own mask over M's inputs and recurrent state (the
    run's controller.dream_dropout; 0: the plain M)."""

    def __post_init__(self):
        if self.controller_inputs not in CONTROLLER_INPUTS:
            raise ValueError(f"unknown controller inputs '{self.controller_inputs}'; "
                             f"known: {', '.join(CONTROLLER_INPUTS)}")
        if self.done_rule not in DONE_RULES:
            raise ValueError(f"unknown dream done rule '{self.done_rule}'; known: {', '.join(DONE_RULES)}")
        if not 0.0 <= self.dream_dropout < 1.0:
            raise ValueError(f"dream dropout must be in [0, 1), got {self.dream_dropout}")

    @property
    def z_dim(self) -> int:
        return self.mdnrnn.z_dim

    @property
    def obs_dim(self) -> int:
        """Size of the controller's input: [z, h] (the paper's C input), [z, c, h] or z."""
        lstm_states = len(self.controller_inputs) - 1  # none, h, or c and h: `hidden` values each
        return self.mdnrnn.z_dim + self.mdnrnn.hidden * lstm_states

    def controller_input(self, z: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """C's observation from V's z and M's LSTM state, each (batch, size): [z, h], [z, c, h] or z."""
        parts = {"z": z, "c": c, "h": h}
        return torch.cat([parts[name] for name in self.controller_inputs], dim=-1)

    @property
    def label(self) -> str:
        """The dream's name for people: "V+M dream"."""
        return "V+M dream"

    @classmethod
    def load(cls, run_dir: str | Path, device: str | torch.device = "cpu") -> "WorldModel":
        """Load V, M and the starting latents; a missing piece names the script that makes it."""
        run = RunDir(run_dir)
        cfg = run.load_config()
        for path, script in ((run.vae_checkpoint, "train_vae.py"), (run.mdnrnn_checkpoint, "train_mdnrnn.py")):
            if not path.is_file():
                raise RunDirError(
                    f"{run.root} has no {path.name}; run `python scripts/{script} --run-dir {run.root}` first"
                )
        if not any(run.latents.glob("ep_*.npz")):
            raise RunDirError(f"{run.root} has no encoded episodes; run `python scripts/encode.py --run-dir {run.root}` first")
        device = torch.device(device)
        vae = load_vae(run.vae_checkpoint, env=cfg.env, device=device)
        mdnrnn, meta = load_mdnrnn(run.mdnrnn_checkpoint, env=cfg.env, device=device)
        latents = load_latents(run.latents)
        return cls(
            env=cfg.env,
            game=envs.info(cfg.env),
            vae=vae,
            mdnrnn=mdnrnn,
            predict_reward=meta["predict_reward"],
            done_pos_weight=meta["config"]["mdnrnn"]["done_pos_weight"],
            start_mu=torch.as_tensor(np.stack([ep.mu[0] for ep in latents]), device=device),
            start_logvar=torch.as_tensor(np.stack([ep.logvar[0] for ep in latents]), device=device),
            device=device,
            controller_inputs=cfg.controller.inputs,
            done_rule=cfg.controller.dream_done,
            temperature=cfg.controller.temperature,
            dream_dropout=cfg.controller.dream_dropout,
        )


@dataclass
class GameGANWorld(WorldModel):
    """V and M (for [z, h], episode ends and rewards) with a GameGAN that renders the dream, and
    the real episodes' first frames that its episodes start from."""

    family: ClassVar[str] = "gamegan"

    gamegan: GameGAN
    gamegan_name: str  # the GameGAN's name in the run: checkpoints/NAME.pt
    start_frames: torch.Tensor  # (episodes, 64, 64, 3) uint8: first frame of each real episode

    @property
    def label(self) -> str:
        return "GameGAN dream" if self.gamegan_name == "gamegan" else f"GameGAN dream ({self.gamegan_name})"

    @classmethod
    def load(cls, run_dir: str | Path, device: str | torch.device = "cpu", name: str | None = None) -> GameGANWorld:
        return load_gamegan_world(run_dir, device, name)


def load_gamegan_world(run_dir: str | Path, device: str | torch.device = "cpu",
                       name: str | None = None) -> GameGANWorld:
    """V, M and the GameGAN checkpoints/NAME.pt of a run (name None: the run's gamegan.name, by
    default "gamegan"), and its episodes' first frames; a missing piece names the script that
    makes it."""
    run = RunDir(run_dir)
    cfg = run.load_config()
    name = name or cfg.gamegan.name
    path = run.gamegan_checkpoint(name)
    if not path.is_file():
        named = "" if name == "gamegan" else f" --gamegan.name {name}"
        raise RunDirError(f"{run.root} has no checkpoints/{path.name}; "
                          f"run `python scripts/train_gamegan.py --run-dir {run.root}{named}` first")
    world = WorldModel.load(run.root, device)
    gamegan, _ = load_gamegan(path, env=cfg.env, device=world.device)
    m = world.mdnrnn
    if (gamegan.action_dim, gamegan.discrete_actions) != (m.action_dim, m.discrete_actions):
        kinds = {True: "discrete", False: "continuous"}
        raise CheckpointError(f"{path}: GameGAN takes {gamegan.action_dim} {kinds[gamegan.discrete_actions]} actions, "
                              f"M {m.action_dim} {kinds[m.discrete_actions]}")
    episodes = list_episodes(run.episodes)
    if not episodes:
        raise RunDirError(f"{run.root} has no episodes to start the GameGAN dream from; "
                          f"run `python scripts/collect.py --run-dir {run.root}` first")
    frames = load_first_frames(episodes)  # as WorldModel's start latents: every recorded episode's first frame
    return GameGANWorld(**{f.name: getattr(world, f.name) for f in fields(WorldModel)}, gamegan=gamegan,
                        gamegan_name=name, start_frames=torch.as_tensor(frames, device=world.device))


WORLD_MODELS = {"vm": WorldModel.load, "gamegan": load_gamegan_world}
"""World model families a run can hold: name -> loader(run_dir, device[, name])."""


def load_world(run_dir: str | Path, device: str | torch.device = "cpu", model: str = "vm",
               gamegan_name: str | None = None) -> WorldModel:
    """The run's world model of family `model`: "vm", or "gamegan" with GameGAN
    checkpoints/GAMEGAN_NAME.pt (None: the run's gamegan.name)."""
    if model not in WORLD_MODELS:
        raise ValueError(f"unknown world model '{model}'; known: {', '.join(WORLD_MODELS)}")
    if model == "gamegan":
        return load_gamegan_world(run_dir, device, gamegan_name)
    return WorldModel.load(run_dir, device)
