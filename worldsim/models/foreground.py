"""Encoders that read the foreground: a fixed-camera game's frame minus its backdrop, scaled, so
a still scene encodes as zeros and a small object is all the encoder sees. V (vae.background_gain),
GameGAN's frame encoder (gamegan.background_gain) and its discriminators (gamegan.d_background_gain)
share this."""
from __future__ import annotations

import torch


class ReadsForeground:
    """For an nn.Module: background_gain 0, the encoder reads the frame as it is; > 0, it reads
    (frame - background) * background_gain, `background` (1, 3, 64, 64) a buffer saved with the
    weights and set by set_background (the median training frame, worldsim.data.frames)."""

    background_gain: float

    def init_foreground(self, background_gain: float, name: str, persistent: bool = True) -> None:
        """Call after nn.Module.__init__; `name` is the config field, for error messages;
        persistent: the background is saved with the weights (False: whoever builds the module
        sets it each time, e.g. from another module's)."""
        if background_gain < 0:
            raise ValueError(f"{name} must be >= 0, got {background_gain}")
        self.background_gain = float(background_gain)
        self._foreground_field = name
        if self.background_gain:
            self.register_buffer("background", torch.zeros(1, 3, 64, 64), persistent=persistent)

    def set_background(self, frame: torch.Tensor) -> None:
        """frame: (1, 3, 64, 64) in [0, 1], the backdrop the encoder subtracts (background_gain > 0)."""
        if not self.background_gain:
            raise ValueError(f"this model reads whole frames ({self._foreground_field} 0); "
                             "it has no background to set")
        self.background.copy_(frame.reshape(1, 3, 64, 64))

    def foreground(self, frame: torch.Tensor) -> torch.Tensor:
        """What the encoder reads of frames (..., 3, 64, 64) in [0, 1]."""
        if self.background_gain:
            return (frame - self.background) * self.background_gain
        return frame
