"""A trained V+M pair loaded from a run directory, with what the dream needs besides the
networks: the game's facts and the latent starting points of the real episodes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import envs
from worldsim.models.mdnrnn import MDNRNN
from worldsim.models.vae import ConvVAE
from worldsim.run import RunDir, RunDirError
from worldsim.training.encode import load_latents
from worldsim.training.mdnrnn import load_mdnrnn
from worldsim.training.vae import load_vae


@dataclass
class WorldModel:
    env: str
    game: envs.GameInfo
    vae: ConvVAE
    mdnrnn: MDNRNN
    predict_reward: bool
    done_pos_weight: float  # weight M's done loss gave to episode ends (to undo when sampling)
    start_mu: torch.Tensor  # (episodes, z_dim) V's posterior of each real episode's first frame
    start_logvar: torch.Tensor  # (episodes, z_dim)
    device: torch.device

    @property
    def z_dim(self) -> int:
        return self.mdnrnn.z_dim

    @property
    def obs_dim(self) -> int:
        """Size of the controller's input [z, h] (the paper's C input)."""
        return self.mdnrnn.z_dim + self.mdnrnn.hidden

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
        latents = load_latents(run)
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
        )
