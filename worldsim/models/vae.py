"""V: the World Models convolutional VAE that compresses a 64x64 RGB frame to z
(Ha & Schmidhuber 2018): 4 stride-2 convs -> (mu, logvar); dense -> 4 transposed convs -> sigmoid.
Optionally (keypoints > 0) the first 2 x keypoints dimensions of z are image positions, read by a
spatial softmax and drawn back as Gaussian blobs (deep spatial autoencoders, Finn et al. 2016), so
a small object's position is a coordinate of z rather than a pattern spread over it."""
from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from worldsim.checkpoint import load_checkpoint
from worldsim.models.foreground import ReadsForeground


KEYPOINT_SIGMA = 0.02
"""The fixed standard deviation of a keypoint position in z (positions span [-1, 1], so 0.02 is
0.64 of a 64-pixel frame's pixels). Learned from the dense features like z's other entries, it
stayed near the prior's on Breakout, and the positions found no more of the paddle than a V
without keypoints (docs/RESULTS.md, "Breakout: a V whose z holds positions")."""
KEYPOINT_SHARPNESS = 10.0
"""The initial factor on the keypoint maps' logits (learned, as a log): a fresh conv's logits
vary by ~0.1, whose softmax is nearly uniform, so every position would start at the centre."""
FOREGROUND_START = 10.0
"""The keypoint maps' logits start at this on every 4x4 patch (the 31x31 grid of V's first conv)
that differs from the background, and near 0 elsewhere (foreground_presence): each position starts
on the game's objects, all alike, before the maps learn which to follow. Without a start, on a dot
moving over a grey backdrop, the positions drifted off the dot and the dot was not drawn.
Weighted by the difference's energy instead of alike, on Breakout, the bright paddle took the
positions and the dim 1-pixel ball none (docs/RESULTS.md); alike, the ball still took none."""
BLOB_WIDTHS = (1.0, 4.0)
"""Standard deviations, in cells of the decoder's 30x30 grid, of the blobs drawn at each keypoint
position: the narrow one to draw a small object sharply, the wide one so that a position a few
pixels off still tells the decoder roughly where to draw."""


class ConvVAE(ReadsForeground, nn.Module):
    SPEC = ("z_dim", "channels", "background_gain", "keypoints")
    """The constructor's arguments, as a checkpoint's metadata stores them (spec / from_spec)."""

    def __init__(self, z_dim: int = 32, channels: int = 32, background_gain: float = 0.0,
                 keypoints: int = 0):
        """background_gain 0: the encoder reads the frame (the paper). > 0: it reads (frame -
        background) * background_gain, where `background` (a buffer saved with the weights, set by
        set_background) is the game's fixed backdrop, so a still scene encodes as zeros and a
        small object is all the encoder sees; the decoder still draws the whole frame.
        keypoints 0: the paper's V. K > 0: mu's first 2K entries are K positions (x, y in [-1, 1],
        x across, y down), each the softmax-weighted mean position over a 31x31 map of a small conv
        branch; the decoder's last layer reads a Gaussian blob at each position (30x30) beside its
        features, so drawing an object where z says is what the layer finds easiest. The maps'
        logits start at FOREGROUND_START on every patch that differs from the background (a
        fixed-camera game's objects; keypoints need background_gain > 0). Positions carry a fixed
        noise (KEYPOINT_SIGMA) and stay out of the KL (vae_loss's `positions`)."""
        super().__init__()
        if keypoints < 0 or 2 * keypoints > z_dim:
            raise ValueError(f"vae.keypoints must be in [0, z_dim / 2 = {z_dim // 2}], "
                             f"got {keypoints}")
        if keypoints and not background_gain:
            raise ValueError("vae.keypoints needs vae.background_gain > 0: the positions start on what "
                             "differs from the game's background")
        self.z_dim, self.channels, self.keypoints = z_dim, channels, keypoints
        self.positions = 2 * keypoints  # z's first entries that are keypoint positions
        self.init_foreground(background_gain, "vae.background_gain")
        c = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c, 4, stride=2), nn.ReLU(),  # 31x31
            nn.Conv2d(c, 2 * c, 4, stride=2), nn.ReLU(),  # 14x14
            nn.Conv2d(2 * c, 4 * c, 4, stride=2), nn.ReLU(),  # 6x6
            nn.Conv2d(4 * c, 8 * c, 4, stride=2), nn.ReLU(),  # 2x2
            nn.Flatten(),
        )
        self.to_mu = nn.Linear(32 * c, z_dim - self.positions)
        self.to_logvar = nn.Linear(32 * c, z_dim - self.positions)
        self.from_z = nn.Linear(z_dim, 32 * c)  # the paper's dense 1024 for c=32
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32 * c, 4 * c, 5, stride=2), nn.ReLU(),  # 5x5
            nn.ConvTranspose2d(4 * c, 2 * c, 5, stride=2), nn.ReLU(),  # 13x13
            nn.ConvTranspose2d(2 * c, c, 6, stride=2), nn.ReLU(),  # 30x30
            nn.ConvTranspose2d(c + len(BLOB_WIDTHS) * keypoints, 3, 6, stride=2), nn.Sigmoid(),  # 64x64
        )
        if keypoints:
            self.keypoint_maps = nn.Sequential(
                nn.Conv2d(3, c, 4, stride=2), nn.ReLU(),  # 31x31
                nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
                nn.Conv2d(c, keypoints, 1),  # one logit map per keypoint
            )
            self.keypoint_sharpness = nn.Parameter(torch.tensor(math.log(KEYPOINT_SHARPNESS)))

    def spec(self) -> dict:
        """The constructor's arguments by name, for a checkpoint's metadata."""
        return {name: getattr(self, name) for name in self.SPEC}

    @classmethod
    def from_spec(cls, spec: dict) -> "ConvVAE":
        """An untrained V of the sizes `spec` (spec() or a checkpoint's metadata) names."""
        return cls(**{name: spec[name] for name in cls.SPEC if name in spec})  # older checkpoints: defaults

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (batch, 3, 64, 64) in [0, 1] -> mu, logvar: (batch, z_dim)."""
        seen = self.foreground(x)
        h = self.encoder(seen)
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        if self.keypoints:
            logits = self.keypoint_maps(seen) * self.keypoint_sharpness.exp()
            logits = logits + FOREGROUND_START * foreground_presence(seen)
            mu = torch.cat([spatial_expectation(logits), mu], dim=1)
            fixed = logvar.new_full((len(mu), self.positions), 2 * math.log(KEYPOINT_SIGMA))
            logvar = torch.cat([fixed, logvar], dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (batch, z_dim) -> frames (batch, 3, 64, 64) in [0, 1]."""
        h = self.from_z(z).view(-1, 32 * self.channels, 1, 1)
        if not self.keypoints:
            return self.decoder(h)
        h = self.decoder[:-2](h)  # 30x30 features
        positions = z[:, : self.positions]
        blobs = [gaussian_blobs(positions, h.shape[-1], width) for width in BLOB_WIDTHS]
        return self.decoder[-2:](torch.cat([h, *blobs], dim=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def foreground_presence(seen: torch.Tensor) -> torch.Tensor:
    """What an encoder that reads the foreground sees, (batch, 3, 64, 64) -> (batch, 1, 31, 31)
    in [0, 1]: 1 on a 4x4 patch (stride 2, V's first conv's grid) holding a pixel whose squared
    difference from the background times background_gain, summed over RGB, is >= 1 (a
    difference of 1 / background_gain in one channel, or 0.58 / background_gain in all three),
    less where the largest difference is smaller."""
    return F.max_pool2d(seen.pow(2).sum(1, keepdim=True), 4, stride=2).clamp(max=1.0)


def spatial_expectation(logits: torch.Tensor) -> torch.Tensor:
    """logits (batch, K, H, W) -> (batch, 2K): per map, the mean (x, y) under its softmax over
    positions, in [-1, 1] (pixel centres from -1 to 1; x across, y down), as x1, y1, x2, y2, ..."""
    batch, k, height, width = logits.shape
    p = torch.softmax(logits.flatten(2), dim=-1).view(batch, k, height, width)
    xs = torch.linspace(-1.0, 1.0, width, device=logits.device, dtype=logits.dtype)
    ys = torch.linspace(-1.0, 1.0, height, device=logits.device, dtype=logits.dtype)
    x = (p.sum(dim=2) * xs).sum(dim=-1)
    y = (p.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1).flatten(1)


def gaussian_blobs(positions: torch.Tensor, size: int, width: float = 1.0) -> torch.Tensor:
    """positions (batch, 2K) as spatial_expectation returns them -> (batch, K, size, size): a
    Gaussian of `width` grid cells' standard deviation, peak 1, at each (x, y) on a size x size grid
    spanning [-1, 1]."""
    batch = positions.shape[0]
    xy = positions.view(batch, -1, 2)
    grid = torch.linspace(-1.0, 1.0, size, device=positions.device, dtype=positions.dtype)
    sigma = width * 2.0 / (size - 1)
    gx = torch.exp(-((grid - xy[..., :1]) ** 2) / (2 * sigma**2))  # (batch, K, size) across
    gy = torch.exp(-((grid - xy[..., 1:]) ** 2) / (2 * sigma**2))  # down
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)


def vae_loss(
    recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kl_tolerance: float,
    pixel_weights: torch.Tensor | None = None, kl_weight: float = 1.0, positions: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The paper's loss: summed squared error per frame + KL clamped below at kl_tolerance * z_dim
    (free bits), both averaged over the batch. `pixel_weights` (broadcast to x, e.g. (batch, 1, H,
    W)) scales each pixel's squared error in the total, `kl_weight` the clamped KL; both default to
    the paper's 1. The first `positions` entries of z (a keypoint V's, ConvVAE.positions) are left
    out of the KL and its floor: their noise is fixed, and nothing draws them from the prior.
    Returns (total, reconstruction, kl): the reconstruction unweighted, so it stays comparable
    across weightings."""
    squared = F.mse_loss(recon, x, reduction="none")
    rec = squared.sum(dim=(1, 2, 3)).mean()
    weighted = rec if pixel_weights is None else (squared * pixel_weights).sum(dim=(1, 2, 3)).mean()
    mu, logvar = mu[:, positions:], logvar[:, positions:]
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
