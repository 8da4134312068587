"""GameGAN's three discriminators, all giving hinge-loss logits on frames in [0, 1]:
`FrameDiscriminator` judges single frames (and exposes its features for feature matching);
`ActionDiscriminator` judges a transition (x_t, x_{t+1}) under action a_t with projection
conditioning, and reconstructs a_t and z_t from the transition; `TemporalDiscriminator` judges a
clip with 3-D convolutions at several time scales (paper, Sec. 3.4).

With a background gain (gamegan.d_background_gain > 0, our addition) each reads the foreground,
(x - background) * gain, the frame encoder's background: a still scene reads as zeros, so a
2-pixel ball is not a few pixels among the walls and bricks the discriminator also judges.
With patches (gamegan.patch_weight > 0, our addition) the frame discriminator also gives one logit
per cell of its 16 x 16 layer, each judging the 10 x 10 pixels it sees: a verdict at the scale of
a small object, where the whole-frame logit pools the ball with everything else. With
gamegan.patch_cells K it judges only the K cells where each generated frame differs most from
its real counterpart, the same cells of both (a still backdrop, the same in both, is no evidence)."""
from __future__ import annotations

import torch
from torch import nn

import torch.nn.functional as F

from worldsim.models.foreground import ReadsForeground

CELL_PX = 4
"""pixels per side of a patch cell's own block (the 64 x 64 frame in 16 x 16 cells)"""


def differing_cells(real: torch.Tensor, fake: torch.Tensor, k: int) -> torch.Tensor:
    """Paired frames (n, 3, 64, 64) -> indices (n, k) of the k cells (of 16 x 16, row-major) whose
    own 4 x 4 pixels differ most between the two (mean absolute difference over pixels and
    channels); k 0: every cell, in order."""
    if k == 0:
        return torch.arange(256, device=real.device).expand(len(real), 256)
    diff = F.avg_pool2d((real.detach().float() - fake.detach().float()).abs().sum(1, keepdim=True), CELL_PX)
    return diff.flatten(1).topk(k, dim=1).indices


def _conv_trunk(channels: int) -> nn.ModuleList:
    """Four stride-2 convs, 64x64 -> 4x4, widths d, 2d, 4d, 8d; one module per feature level."""
    d = channels
    widths = [3, d, 2 * d, 4 * d, 8 * d]
    return nn.ModuleList(
        nn.Sequential(nn.Conv2d(a, b, 4, stride=2, padding=1), nn.LeakyReLU(0.2)) for a, b in zip(widths, widths[1:])
    )


class _Judge(ReadsForeground, nn.Module):
    """What every discriminator shares: how it reads frames in [0, 1]: moved to [-1, 1], or with a
    background gain the foreground (x - background) * gain, which is centred already (0 where the
    frame shows the backdrop). The background is set by Discriminators.set_background, not saved
    with the weights."""

    def __init__(self, background_gain: float = 0.0):
        super().__init__()
        self.init_foreground(background_gain, "gamegan.d_background_gain", persistent=False)

    def reads(self, x: torch.Tensor) -> torch.Tensor:
        return self.foreground(x) if self.background_gain else x * 2 - 1


class FrameDiscriminator(_Judge):
    PATCH_LEVEL = 1
    """the trunk level the patch logits read: 16 x 16 cells, each seeing 10 x 10 pixels"""

    def __init__(self, channels: int = 32, background_gain: float = 0.0, patches: bool = False):
        super().__init__(background_gain)
        self.trunk = _conv_trunk(channels)
        self.head = nn.Linear(8 * channels * 16, 1)
        self.patch_head = nn.Conv2d(2 * channels, 1, 1) if patches else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """x (batch, 3, 64, 64) in [0, 1] -> logits (batch,), features of every level (for feature matching)."""
        features, h = [], self.reads(x)
        for block in self.trunk:
            h = block(h)
            features.append(h)
        return self.head(h.flatten(1)).squeeze(-1), features

    def patches(self, features: list[torch.Tensor], cells: torch.Tensor | None = None) -> torch.Tensor:
        """The features forward returned -> one logit per 16 x 16 cell (batch, 256), or only the
        cells indexed (batch, k) (differing_cells) -> (batch, k); needs patches."""
        if self.patch_head is None:
            raise RuntimeError("this frame discriminator has no patch head (gamegan.patch_weight 0)")
        logits = self.patch_head(features[self.PATCH_LEVEL]).flatten(1)
        return logits if cells is None else logits.gather(1, cells)


class ActionDiscriminator(_Judge):
    def __init__(self, action_dim: int, noise_dim: int, channels: int = 32, background_gain: float = 0.0):
        """action_dim: size of the encoded action (one-hot for discrete games)."""
        super().__init__(background_gain)
        f = 8 * channels
        self.trunk = nn.Sequential(*_conv_trunk(channels), nn.Flatten(), nn.Linear(f * 16, f), nn.LeakyReLU(0.2))
        self.transition = nn.Sequential(  # reads [f_t, f_{t+1}, f_{t+1} - f_t]
            nn.Linear(3 * f, f), nn.LeakyReLU(0.2), nn.Linear(f, f), nn.LeakyReLU(0.2)
        )
        self.unconditional = nn.Linear(f, 1)
        self.embed_action = nn.Linear(action_dim, f, bias=False)  # projection conditioning
        self.action_head = nn.Linear(f, action_dim)  # logits (discrete) or the action (continuous)
        self.noise_head = nn.Linear(f, noise_dim)

    def score(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Transition features (n, f) judged under encoded actions (n, action_dim) -> logits (n,)."""
        return self.unconditional(features).squeeze(-1) + (self.embed_action(action) * features).sum(-1)

    def forward(self, before: torch.Tensor, after: torch.Tensor, action: torch.Tensor,
                wrong_action: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """before, after (n, 3, 64, 64) in [0, 1]; action (n, action_dim) -> logit (n,), action (n,
        action_dim) and noise (n, noise_dim) reconstructions, and, when wrong_action is given, the
        logit of the same transitions under it."""
        f_before, f_after = self.trunk(self.reads(torch.cat([before, after]))).chunk(2)
        features = self.transition(torch.cat([f_before, f_after, f_after - f_before], dim=-1))  # (n, f)
        out = {"logit": self.score(features, action), "action": self.action_head(features),
               "noise": self.noise_head(features)}
        if wrong_action is not None:
            out["wrong_logit"] = self.score(features, wrong_action)
        return out


class TemporalDiscriminator(_Judge):
    def __init__(self, channels: int = 32, scales: int = 3, background_gain: float = 0.0):
        """A per-frame stem (1x4x4 convs, 64 -> 16) then `scales` 3-D blocks (3x4x4, stride 2 in
        time and space), with a logit map after each block: short- to long-range consistency."""
        super().__init__(background_gain)
        if not 1 <= scales <= 4:
            raise ValueError(f"temporal scales must be 1..4 (16x16 halves 4 times), got {scales}")
        d = channels
        self.stem = nn.Sequential(
            nn.Conv3d(3, d, (1, 4, 4), stride=(1, 2, 2), padding=(0, 1, 1)), nn.LeakyReLU(0.2),  # 32x32
            nn.Conv3d(d, 2 * d, (1, 4, 4), stride=(1, 2, 2), padding=(0, 1, 1)), nn.LeakyReLU(0.2),  # 16x16
        )
        widths = [2 * d] + [min(8 * d, 4 * d << i) for i in range(scales)]
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Conv3d(a, b, (3, 4, 4), stride=2, padding=1), nn.LeakyReLU(0.2))
            for a, b in zip(widths, widths[1:])
        )
        self.heads = nn.ModuleList(nn.Conv3d(b, 1, 1) for b in widths[1:])

    def forward(self, clip: torch.Tensor) -> list[torch.Tensor]:
        """clip (batch, T, 3, 64, 64) in [0, 1] -> one logit tensor (batch, n_i) per time scale."""
        h = self.stem(self.reads(clip).transpose(1, 2))  # (batch, 2d, T, 16, 16)
        logits = []
        for block, head in zip(self.blocks, self.heads):
            h = block(h)
            logits.append(head(h).flatten(1))
        return logits


class Discriminators(nn.Module):
    """The three discriminators, trained together with one optimizer. spectral_norm: every
    convolution and linear layer's weight divided by its largest singular value (one power
    iteration a step), which bounds how sharply each discriminator can change with its input.
    background_gain > 0: all three read the foreground (set_background; the R1 penalty is still
    taken with respect to the frames). patches: the frame discriminator also judges 16 x 16 cells,
    patch_cells of them per frame (0: all; differing_cells)."""

    def __init__(self, action_dim: int, noise_dim: int, channels: int = 32, temporal_scales: int = 3,
                 spectral_norm: bool = True, background_gain: float = 0.0, patches: bool = False,
                 patch_cells: int = 0):
        super().__init__()
        if not 0 <= patch_cells <= 256:
            raise ValueError(f"gamegan.patch_cells must be 0 (every cell) .. 256, not {patch_cells}")
        self.patch_cells = patch_cells
        self.frame = FrameDiscriminator(channels, background_gain, patches)
        self.action = ActionDiscriminator(action_dim, noise_dim, channels, background_gain)
        self.temporal = TemporalDiscriminator(channels, temporal_scales, background_gain)
        if spectral_norm:
            for module in list(self.modules()):
                if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.Linear)):
                    nn.utils.parametrizations.spectral_norm(module)

    def set_background(self, frame: torch.Tensor) -> None:
        """frame (1, 3, 64, 64) in [0, 1]: the backdrop all three subtract (background_gain > 0)."""
        for judge in (self.frame, self.action, self.temporal):
            judge.set_background(frame)

    def forward(self, real: torch.Tensor, fake: torch.Tensor, fake_inputs: torch.Tensor, action: torch.Tensor,
                wrong_action: torch.Tensor, r1: bool = False) -> dict[str, torch.Tensor]:
        """One pass of all three over real and generated data, batched together, with the R1
        penalty when `r1` (so a DistributedDataParallel wrapper sees one forward per backward).

        real (batch, T+1, 3, 64, 64) x_0..x_T; fake (batch, T, 3, 64, 64) x^_1..x^_T; fake_inputs
        (batch, T, 3, 64, 64) the x_t the generator read; action, wrong_action (batch, T, action_dim)
        encoded. Returns (n = batch*T) frame_real/frame_fake (n,), action_real/action_fake/
        action_wrong (n,) logits, action_pred_real (n, action_dim), noise_pred_fake (n, noise_dim),
        temporal_real/temporal_fake: lists of (batch, n_i) logits, with patches patch_real/patch_fake
        (n, patch_cells or 256) at the same cells of each pair, and, when r1, the penalty 'r1'."""
        n = fake.shape[0] * fake.shape[1]
        frame_logits, frame_features = self.frame(torch.cat([real[:, 1:].flatten(0, 1), fake.flatten(0, 1)]))
        patches = {}
        if self.frame.patch_head is not None:
            chosen = differing_cells(real[:, 1:].flatten(0, 1), fake.flatten(0, 1), self.patch_cells)
            cells = self.frame.patches(frame_features, torch.cat([chosen, chosen]))
            patches = {"patch_real": cells[:n], "patch_fake": cells[n:]}
        a = action.flatten(0, 1)
        transitions = self.action(
            torch.cat([real[:, :-1].flatten(0, 1), fake_inputs.flatten(0, 1)]),
            torch.cat([real[:, 1:].flatten(0, 1), fake.flatten(0, 1)]),
            torch.cat([a, a]),
            wrong_action=torch.cat([wrong_action.flatten(0, 1), a]),
        )
        temporal = self.temporal(torch.cat([real, torch.cat([real[:, :1], fake], dim=1)]))
        b = real.shape[0]
        return {
            "frame_real": frame_logits[:n], "frame_fake": frame_logits[n:],
            "action_real": transitions["logit"][:n], "action_fake": transitions["logit"][n:],
            "action_wrong": transitions["wrong_logit"][:n],
            "action_pred_real": transitions["action"][:n], "noise_pred_fake": transitions["noise"][n:],
            "temporal_real": [t[:b] for t in temporal], "temporal_fake": [t[b:] for t in temporal],
            **patches, **({"r1": self.r1_penalty(real, action)} if r1 else {}),
        }

    def r1_penalty(self, real: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """R1 (Mescheder et al. 2018) on real data: the sum over the three discriminators of
        E ||d D(real) / d real||^2 per judged sample (frame, transition, clip), without gamma / 2;
        with patches the frame's judgement is its logit plus the mean of its patch logits.
        Computed in float32 (autocast off): squared input gradients underflow in half precision."""
        device_type = real.device.type
        with torch.autocast(device_type, enabled=False):
            x = real.detach().float().requires_grad_(True)  # (batch, T+1, 3, 64, 64)
            b, t = x.shape[0], x.shape[1] - 1
            a = action.flatten(0, 1).float()
            frame_logits, frame_features = self.frame(x[:, 1:].flatten(0, 1))
            if self.frame.patch_head is not None:
                frame_logits = frame_logits + self.frame.patches(frame_features).mean(1)
            outputs = [
                (frame_logits.sum(), b * t),
                (self.action(x[:, :-1].flatten(0, 1), x[:, 1:].flatten(0, 1), a)["logit"].sum(), b * t),
                (sum(logits.mean(1).sum() for logits in self.temporal(x)), b),
            ]
            penalty = x.new_zeros(())
            for total, count in outputs:
                (grad,) = torch.autograd.grad(total, x, create_graph=True)
                penalty = penalty + grad.pow(2).sum() / count
        return penalty
