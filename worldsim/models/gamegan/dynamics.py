"""GameGAN's dynamics engine: an LSTM whose state h_t is the simulated game state. The action
acts multiplicatively on the previous state, v_t = h_{t-1} * H(a_t, z_t, m_{t-1}), and the
gates read [v_t, s_t] with s_t = C(x_t) the encoded current frame (paper, Sec. 3.1).

With `spatial` > 0 (our addition) a second state beside h_t keeps a place per 16 x 16 cell of
the frame: a convolutional LSTM S_t that reads C's 16 x 16 layer of x_t and h_t (broadcast to
every cell), so a small object's place and motion are held where it is, at the precision of the
features of its cell rather than squeezed into one vector."""
from __future__ import annotations

import torch
from torch import nn

from worldsim.models.foreground import ReadsForeground

GRID_LAYERS = 4
"""frame_encoder's layers up to its 16 x 16 layer (two stride-2 convs with their activations)"""
SPATIAL_CONTEXT, SPATIAL_KERNEL = 16, 5
"""the spatial state's reading of h_t (channels broadcast to every cell) and its convolutions'
side: 5 cells reach 8 pixels either way, more than anything in the games moves in one step"""


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
                 channels: int = 32, action_embed: int = 32, encoder_norm: bool = True, background_gain: float = 0.0,
                 spatial: int = 0):
        """action_dim: size of the encoded action (one-hot for discrete games); read_dim: size of
        the memory read m_{t-1} (0 without memory); encoder_norm: s_t = LayerNorm(C(x_t)), so the
        frame reaches the gates at unit scale whatever training does to C (see `read_frame`);
        background_gain > 0: C reads (x_t - background) * gain, `background` a buffer saved with
        the weights (set_background), as V's vae.background_gain; spatial: channels of the spatial
        state S_t (0: none, the paper's form)."""
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
        if spatial < 0:
            raise ValueError(f"gamegan.spatial is a number of channels (0: no spatial state), not {spatial}")
        self.spatial = spatial
        if spatial:  # built last, so the paper's modules draw the same initial weights with it or without
            grid = 2 * channels  # C's 16 x 16 layer
            self.grid_norm = nn.GroupNorm(1, grid)  # the layer at unit scale, as s_t's layer norm
            self.spatial_context = nn.Linear(hidden, SPATIAL_CONTEXT)
            self.spatial_gates = nn.Conv2d(spatial + grid + SPATIAL_CONTEXT, 4 * spatial, SPATIAL_KERNEL,
                                           padding=SPATIAL_KERNEL // 2)
            self.spatial_initial = nn.Conv2d(grid, spatial, SPATIAL_KERNEL, padding=SPATIAL_KERNEL // 2)

    def read(self, frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(s_t (batch, hidden), C's 16 x 16 layer (batch, 2 * channels, 16, 16)) of a frame (batch, 3, 64, 64)."""
        grid = self.encode[:GRID_LAYERS](self.foreground(frame))
        return self.norm(self.encode[GRID_LAYERS:](grid)), grid

    def read_frame(self, frame: torch.Tensor) -> torch.Tensor:
        """s_t, the encoded frame (batch, hidden). Unnormalised, C's output starts near 0.01 (two
        frames with the object at opposite sides then give states that differ by ~3e-4 and frames
        by ~1e-6: nothing for a gradient to follow) and can grow to ~20 in training, where it
        saturates every gate for every frame; the layer norm keeps it at unit scale."""
        return self.read(frame)[0]

    def initial_state(self, first_frame: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(h_{-1}, c_{-1}, S_{-1}, its cell) from the first frame (S None without the spatial
        state). A zero h would make the first step blind to its action (v_0 = 0 * H(a_0, ...)), so
        h_{-1} is read from x_0 instead; S_{-1} likewise, from C's 16 x 16 layer of x_0."""
        s, grid = self.read(first_frame)
        h = torch.tanh(self.initial(s))  # (batch, hidden)
        if not self.spatial:
            return h, torch.zeros_like(h), None, None
        spatial = torch.tanh(self.spatial_initial(self.grid_norm(grid)))
        return h, torch.zeros_like(h), spatial, torch.zeros_like(spatial)

    def forward(self, h: torch.Tensor, c: torch.Tensor, frame: torch.Tensor, action: torch.Tensor,
                noise: torch.Tensor, read: torch.Tensor | None = None, spatial: torch.Tensor | None = None,
                spatial_cell: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """One step: h, c (batch, hidden); frame (batch, 3, 64, 64) in [0, 1]; action (batch,
        action_dim) encoded; noise (batch, noise_dim); read (batch, read_dim) or None; spatial,
        spatial_cell (batch, spatial, 16, 16), with the spatial state -> (h_t, c_t, S_t, its cell)
        (the last two None without it). S_t reads h_t, so the action and the noise reach it."""
        parts = [self.embed_action(action), noise] + ([read] if self.read_dim else [])
        v = h * self.condition(torch.cat(parts, dim=-1))  # (batch, hidden)
        s, grid = self.read(frame)  # (batch, hidden), (batch, 2 * channels, 16, 16)
        h, c = lstm_update(self.gates(torch.cat([v, s], dim=-1)), c, dim=-1)
        if not self.spatial:
            return h, c, None, None
        context = self.spatial_context(h)[:, :, None, None].expand(-1, -1, *grid.shape[-2:])
        spatial, spatial_cell = lstm_update(self.spatial_gates(torch.cat([spatial, self.grid_norm(grid), context], 1)),
                                            spatial_cell, dim=1)
        return h, c, spatial, spatial_cell


def lstm_update(gates: torch.Tensor, cell: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An LSTM's new (state, cell) from its pre-activations `gates` (the i, f, o gates and the
    cell input, in that order along `dim`) and its cell."""
    i, f, o, g = gates.chunk(4, dim=dim)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell
