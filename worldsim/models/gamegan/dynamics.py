"""GameGAN's dynamics engine: an LSTM whose state h_t is the simulated game state. The action
acts multiplicatively on the previous state, v_t = h_{t-1} * H(a_t, z_t, m_{t-1}), and the
gates read [v_t, s_t] with s_t = C(x_t) the encoded current frame (paper, Sec. 3.1)."""
from __future__ import annotations

import torch
from torch import nn

from worldsim.models.foreground import ReadsForeground


def frame_encoder(channels: int, out_dim: int) -> nn.Sequential:
    """(batch, 3, 64, 64) in [0, 1] -> (batch, out_dim): four stride-2 convs to 4x4, then linear."""
    c = channels
    return nn.Sequential(
        nn.Conv2d(3, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 32x32
        nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 16x16
        nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 8x8
        nn.Conv2d(4 * c, 8 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 4x4
        nn.Flatten(),
        nn.Linear(8 * c * 16, out_dim),
    )


class DynamicsEngine(ReadsForeground, nn.Module):
    def __init__(self, hidden: int, action_dim: int, noise_dim: int, read_dim: int = 0,
                 channels: int = 32, action_embed: int = 32, encoder_norm: bool = True, background_gain: float = 0.0):
        """action_dim: size of the encoded action (one-hot for discrete games); read_dim: size of
        the memory read m_{t-1} (0 without memory); encoder_norm: s_t = LayerNorm(C(x_t)), so the
        frame reaches the gates at unit scale whatever training does to C (see `read_frame`);
        background_gain > 0: C reads (x_t - background) * gain, `background` a buffer saved with
        the weights (set_background), as V's vae.background_gain."""
        super().__init__()
        self.init_foreground(background_gain, "gamegan.background_gain")
        self.hidden, self.noise_dim, self.read_dim = hidden, noise_dim, read_dim
        self.encode = frame_encoder(channels, hidden)  # C(x_t)
        self.norm = nn.LayerNorm(hidden) if encoder_norm else nn.Identity()
        self.embed_action = nn.Linear(action_dim, action_embed)
        self.condition = nn.Sequential(  # H(a_t, z_t, m_{t-1})
            nn.Linear(action_embed + noise_dim + read_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden)
        )
        self.gates = nn.Linear(2 * hidden, 4 * hidden)  # [W^v | W^s] for the i, f, o gates and the cell input
        self.initial = nn.Linear(hidden, hidden)

    def read_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """s_t, the encoded frame (batch, hidden). Unnormalised, C's output starts near 0.01 (two
        frames with the object at opposite sides then give states that differ by ~3e-4 and frames
        by ~1e-6: nothing for a gradient to follow) and can grow to ~20 in training, where it
        saturates every gate for every frame; the layer norm keeps it at unit scale."""
        return self.norm(self.encode(self.foreground(frame)))

    def initial_state(self, first_frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(h_{-1}, c_{-1}) from the first frame. A zero h would make the first step blind to its
        action (v_0 = 0 * H(a_0, ...)), so h_{-1} is read from x_0 instead."""
        h = torch.tanh(self.initial(self.read_frame(first_frame)))  # (batch, hidden)
        return h, torch.zeros_like(h)

    def forward(self, h: torch.Tensor, c: torch.Tensor, frame: torch.Tensor, action: torch.Tensor,
                noise: torch.Tensor, read: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: h, c (batch, hidden); frame (batch, 3, 64, 64) in [0, 1]; action (batch,
        action_dim) encoded; noise (batch, noise_dim); read (batch, read_dim) or None -> (h_t, c_t)."""
        parts = [self.embed_action(action), noise] + ([read] if self.read_dim else [])
        v = h * self.condition(torch.cat(parts, dim=-1))  # (batch, hidden)
        s = self.read_frame(frame)  # (batch, hidden)
        i, f, o, g = self.gates(torch.cat([v, s], dim=-1)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c
