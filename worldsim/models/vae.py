"""V: the World Models convolutional VAE that compresses a 64x64 RGB frame to z
(Ha & Schmidhuber 2018): 4 stride-2 convs -> (mu, logvar); dense -> 4 transposed convs -> sigmoid."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from worldsim.checkpoint import load_checkpoint
from worldsim.models.foreground import ReadsForeground


class ConvVAE(ReadsForeground, nn.Module):
    SPEC = ("z_dim", "channels", "background_gain")
    """The constructor's arguments, as a checkpoint's metadata stores them (spec / from_spec)."""

    def __init__(self, z_dim: int = 32, channels: int = 32, background_gain: float = 0.0):
        """background_gain 0: the encoder reads the frame (the paper). > 0: it reads (frame -
        background) * background_gain, where `background` (a buffer saved with the weights, set by
        set_background) is the game's fixed backdrop, so a still scene encodes as zeros and a
        small object is all the encoder sees; the decoder still draws the whole frame."""
        super().__init__()
        self.z_dim, self.channels = z_dim, channels
        self.init_foreground(background_gain, "vae.background_gain")
        c = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c, 4, stride=2), nn.ReLU(),  # 31x31
            nn.Conv2d(c, 2 * c, 4, stride=2), nn.ReLU(),  # 14x14
            nn.Conv2d(2 * c, 4 * c, 4, stride=2), nn.ReLU(),  # 6x6
            nn.Conv2d(4 * c, 8 * c, 4, stride=2), nn.ReLU(),  # 2x2
            nn.Flatten(),
        )
        self.to_mu = nn.Linear(32 * c, z_dim)
        self.to_logvar = nn.Linear(32 * c, z_dim)
        self.from_z = nn.Linear(z_dim, 32 * c)  # the paper's dense 1024 for c=32
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32 * c, 4 * c, 5, stride=2), nn.ReLU(),  # 5x5
            nn.ConvTranspose2d(4 * c, 2 * c, 5, stride=2), nn.ReLU(),  # 13x13
            nn.ConvTranspose2d(2 * c, c, 6, stride=2), nn.ReLU(),  # 30x30
            nn.ConvTranspose2d(c, 3, 6, stride=2), nn.Sigmoid(),  # 64x64
        )

    def spec(self) -> dict:
        """The constructor's arguments by name, for a checkpoint's metadata."""
        return {name: getattr(self, name) for name in self.SPEC}

    @classmethod
    def from_spec(cls, spec: dict) -> "ConvVAE":
        """An untrained V of the sizes `spec` (spec() or a checkpoint's metadata) names."""
        return cls(**{name: spec[name] for name in cls.SPEC if name in spec})  # older checkpoints: defaults

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (batch, 3, 64, 64) in [0, 1] -> mu, logvar: (batch, z_dim)."""
        h = self.encoder(self.foreground(x))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (batch, z_dim) -> frames (batch, 3, 64, 64) in [0, 1]."""
        h = self.from_z(z).view(-1, 32 * self.channels, 1, 1)
        return self.decoder(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def vae_loss(
    recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kl_tolerance: float,
    pixel_weights: torch.Tensor | None = None, kl_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The paper's loss: summed squared error per frame + KL clamped below at kl_tolerance * z_dim
    (free bits), both averaged over the batch. `pixel_weights` (broadcast to x, e.g. (batch, 1, H,
    W)) scales each pixel's squared error in the total, `kl_weight` the clamped KL; both default to
    the paper's 1. Returns (total, reconstruction, kl): the reconstruction unweighted, so it stays
    comparable across weightings."""
    squared = F.mse_loss(recon, x, reduction="none")
    rec = squared.sum(dim=(1, 2, 3)).mean()
    weighted = rec if pixel_weights is None else (squared * pixel_weights).sum(dim=(1, 2, 3)).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
    kl_floor = kl_tolerance * mu.shape[1]
    return weighted + kl_weight * torch.clamp(kl, min=kl_floor), rec, kl


def frames_to_tensor(frames, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (batch, 64, 64, 3) numpy/tensor -> float (batch, 3, 64, 64) in [0, 1]."""
    x = torch.as_tensor(frames, device=device)
    return x.permute(0, 3, 1, 2).float().div_(255.0)


def tensor_to_frames(x: torch.Tensor):
    """float (batch, 3, 64, 64) in [0, 1] -> uint8 numpy (batch, 64, 64, 3)."""
    return (x.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def load_vae(path: str | Path, env: str | None = None, device: str | torch.device = "cpu") -> ConvVAE:
    """V from a checkpoint (eval mode), checked to be a VAE of `env` when given."""
    ckpt = load_checkpoint(path, kind="vae", env=env)
    model = ConvVAE.from_spec(ckpt["meta"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval()
