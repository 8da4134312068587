"""GameGAN's rendering engines: state -> next frame (batch, 3, 64, 64) with values in [0, 1]
(the range worldsim's frames use everywhere; see to_pixels for how the last layer gets there). `SimpleRenderer` decodes [h_t, m_t]
with one deconv stack. `SpecializedRenderer` draws K components (component 0 static, from the
memory read m_t; the others dynamic, from h_t), each from a type vector v^k, an object map O^k
and an attribute map A^k; a rough sketch per component, normalised over components at low
resolution, decides who is in front, and full-resolution fine masks eta^k refine it:
x = sum_k eta^k * X^k (paper, Sec. 3.3).

With the spatial state (gamegan.spatial > 0), the maps that say where (the copy skip's keep
share and motion choices, the dynamic components' object and attribute maps) also read S_t at
each place, through a 1 x 1 convolution that starts at zero (so a fresh model starts as without
it)."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn


def upsampler(widths: list[int]) -> nn.Sequential:
    """Stride-2 transposed convs doubling the side once per step: widths[0] -> ... -> widths[-1]."""
    layers: list[nn.Module] = []
    for a, b in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.ReLU()]
    return nn.Sequential(*layers)


OUTPUTS = ("linear", "sigmoid")


class FromSpatial(nn.Module):
    """A map of `out` channels at side `size` read from the spatial state S_t (batch, spatial, N, N)
    (resized when N is not `size`) by a 1 x 1 convolution whose weights start at zero; added to
    logits that h_t already predicts, it leaves them as they were until training moves it."""

    def __init__(self, spatial: int, out: int, size: int):
        super().__init__()
        self.size = size
        self.conv = nn.Conv2d(spatial, out, 1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, spatial: torch.Tensor) -> torch.Tensor:
        if spatial.shape[-1] != self.size:
            spatial = F.interpolate(spatial, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.conv(spatial)


def from_spatial(spatial: int, out: int, size: int) -> FromSpatial | None:
    """FromSpatial, or None without the spatial state (spatial 0)."""
    return FromSpatial(spatial, out, size) if spatial else None


def _read_spatial(logits: torch.Tensor, module: FromSpatial | None, spatial: torch.Tensor | None) -> torch.Tensor:
    """`logits` (batch, out, size, size) plus what `module` reads from the spatial state, where both are there."""
    if module is None:
        return logits
    if spatial is None:
        raise ValueError("a renderer built with the spatial state (gamegan.spatial) needs it (spatial=)")
    return logits + module(spatial)


def check_output(output: str, inward: bool = False) -> str:
    """`output` when it names a last activation to_pixels knows (and, with `inward`, one with a
    clamp); an unknown one is refused when the renderer is built, not at its first step."""
    if output not in OUTPUTS:
        raise ValueError(f"gamegan.output must be one of {', '.join(OUTPUTS)}, not '{output}'")
    if inward and output != "linear":
        raise ValueError("gamegan.clamp_inward passes the gradient of the linear output's clamp: "
                         f"it needs gamegan.output linear, not '{output}'")
    return output


class _ClampInward(torch.autograd.Function):
    """x clamped to [0, 1]; backward, the gradient passes inside the range and, outside it, only
    where a descent step moves x back towards it (below 0 a negative gradient, above 1 a positive one)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(0, 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * (((x >= 0) | (grad < 0)) & ((x <= 1) | (grad > 0)))


def to_pixels(x: torch.Tensor, output: str, inward: bool = False) -> torch.Tensor:
    """A renderer's last layer -> pixels in [0, 1]. "linear": clamped (the gradient flows wherever
    the value is inside the range; with `inward` also outside it where it points back in, see
    gamegan.clamp_inward); "sigmoid": squashed. With a squared-error loss a sigmoid stalls:
    on mostly black frames it saturates at 0 early, where its slope, and so every gradient that
    could draw the bright object, vanishes (benchmarks/gamegan_moving_square.py --autoencoder)."""
    if check_output(output, inward) == "linear":
        return _ClampInward.apply(x) if inward else x.clamp(0, 1)
    return torch.sigmoid(x)


class KeepMask(nn.Module):
    """The copy skip (gamegan.skip): a per-pixel share `keep` of the frame the step read that the
    next frame keeps, x_{t+1} = keep * x_t + (1 - keep) * drawn, predicted from the state h_t
    at low resolution and upsampled. Its bias starts at +2 (keep ~0.88 everywhere), so a fresh
    model starts near copying its input and learns where the game changes.

    sharp: all or nothing per pixel: the share rounded to 0 or 1 in the forward pass, the
    sigmoid's gradient in the backward pass (straight-through). A soft share below 1 on a small
    object that is kept step after step shrinks its colour by that share at every step."""

    def __init__(self, hidden: int, size: int = 16, sharp: bool = False, spatial: int = 0):
        super().__init__()
        self.size, self.sharp = size, sharp
        self.logits = nn.Linear(hidden, size * size)
        nn.init.zeros_(self.logits.weight)
        nn.init.constant_(self.logits.bias, 2.0)
        self.spatial = from_spatial(spatial, 1, size)

    def forward(self, h: torch.Tensor, spatial: torch.Tensor | None = None) -> torch.Tensor:
        """h (batch, hidden), spatial: S_t (with the spatial state) -> keep (batch, 1, 64, 64) in
        (0, 1) ({0, 1} when sharp)."""
        logits = _read_spatial(self.logits(h).view(len(h), 1, self.size, self.size), self.spatial, spatial)
        keep = torch.sigmoid(F.interpolate(logits, size=(64, 64), mode="bilinear", align_corners=False))
        if self.sharp:
            keep = (keep > 0.5).to(keep.dtype) + (keep - keep.detach())  # exactly 0 or 1 forward
        return keep


SHARPNESS, STAY_BONUS = 400.0, 0.025
"""keep_moving's softmax sharpness (per unit of mean squared difference) and its lead for "no
move": inside an area of one colour many offsets match exactly, and spreading it by all of them
would smear its edges. A ball that has moved on differs from where it was by ~0.26 at full
brightness, ~0.065 at half: 10 nats for "no move" on a tie, 16 for a half-bright ball's move"""


TURNS = ("on", "down", "up", "right", "left")
"""keep_moving's ways on from offset (dy, dx): as it was, then (|dy|, dx), (-|dy|, dx), (dy, |dx|),
(dy, -|dx|) (rows count down, columns right). A pixel that has not moved stays under every turn."""


class MotionSkip(nn.Module):
    """The copy skip's moving part (gamegan.motion_kernels > 0): what the skip keeps is the frame
    read moved, not the frame read itself. From the state h_t it predicts `kernels` shift kernels
    of side 2 * radius + 1 (softmax-normalised, so each moves and blurs pixels without changing
    their sum) and, per pixel, a choice among "stay" and each kernel (softmax over kernels + 1 at
    low resolution, upsampled). A paddle that the action moves 3 pixels is one kernel peaked 3
    pixels off centre, chosen on the paddle's rows; without it, the model has to redraw the paddle
    from h_t at its new place (the approach of Finn et al. 2016's CDNA, for the skip only).

    sharp: the moves are whole-pixel shifts. The forward pass takes each kernel's most likely
    offset and each pixel's most likely choice (one-hot); the backward pass takes the softmaxes'
    gradients (straight-through). A soft kernel blurs as it shifts, and an open loop that moves
    the frame it generated compounds the blur step by step; a one-hot shift only moves pixels.

    local: one more choice per pixel, "keep moving": each pixel of the frame read moves on by the
    offset it moved by from the frame before (x_{t-1} to x_t), found by block matching: the offset
    o within the kernels' reach whose 3 x 3 patch of x_{t-1}, o behind, differs least from the
    pixel's patch in x_t (a softmax over the offsets of minus the mean squared difference times
    SHARPNESS; "no move" wins ties), and pushed that far on (forward warping: where no pixel lands,
    black). A small object that moves on its own (Breakout's ball) is carried at its own speed
    wherever it is, which the state's kernels, one per frame and spent on what the action moves,
    cannot do, and a state that reads a 64 x 64 frame at 16 x 16 could only redraw it blurred.
    Nothing in it is learned but where the state chooses it (no gradient flows through the frames
    it reads).

    bounce (with local): four more choices, "keep moving" turned down, up, right or left: the
    offset's row (down, up) or column (right, left) made to point that way, whichever way it
    pointed (TURNS). Keep moving alone cannot turn a ball at a wall, a paddle or a brick, so it
    carries it into the wall; a ball the state meets there can be sent off the way the game
    sends it, by choosing, where the wall is, the turn that points away from it. (On Breakout a
    1,500-step warm start did not learn to: docs/RESULTS.md, "keep moving, turned".)

    onward (with local): "stay" keeps each pixel moving too: the first choice takes keep moving's
    frame instead of the frame read (a pixel that did not move stays, as before). Things go on
    moving wherever the state chooses nothing else, so the state needs to know where the ball
    is only to stop or turn it, not to keep it going. (On Breakout it kept no more of the ball:
    keep moving alone, with nothing choosing, loses it as soon: docs/RESULTS.md, "how far keep
    moving can carry the ball".)
    """

    def __init__(self, hidden: int, kernels: int, radius: int, size: int = 16, sharp: bool = False,
                 local: bool = False, bounce: bool = False, onward: bool = False, spatial: int = 0):
        super().__init__()
        if kernels < 1 or radius < 1:
            raise ValueError(f"the motion skip needs kernels >= 1 and radius >= 1, not {kernels} and {radius}")
        self.kernels, self.radius, self.size, self.sharp = kernels, radius, size, sharp
        side = 2 * radius + 1
        self.kernel_logits = nn.Linear(hidden, kernels * side * side)
        self.choice = nn.Linear(hidden, (kernels + 1) * size * size)
        nn.init.zeros_(self.choice.weight)
        with torch.no_grad():  # start by staying put: "stay" has e^2 / (e^2 + kernels) of the weight everywhere
            self.choice.bias.view(kernels + 1, size * size).copy_(torch.tensor([2.0] + [0.0] * kernels)[:, None])
        if bounce and not local:
            raise ValueError("gamegan.motion_bounce needs gamegan.motion_local (it turns 'keep moving')")
        if onward and not local:
            raise ValueError("gamegan.motion_onward needs gamegan.motion_local (its 'stay' keeps moving)")
        self.onward = onward
        self.turns = TURNS if bounce else TURNS[:1] if local else ()
        if local:
            with torch.no_grad():  # the state's logits for "keep moving" (and its turns) start as for the kernels
                self.choice = _grown(self.choice, (kernels + 1 + len(self.turns)) * size * size)
        self.spatial = from_spatial(spatial, kernels + 1 + len(self.turns), size)

    def forward(self, h: torch.Tensor, frame: torch.Tensor, before: torch.Tensor | None = None,
                spatial: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """h (batch, hidden), frame (batch, C, H, W), before: the frame read one step earlier
        ("keep moving"'s; `frame` when None), spatial: S_t (with the spatial state) -> (the frame
        moved (batch, C, H, W), the choice (batch, options, H, W) summing to 1 over its second
        axis: "stay" first (with `onward`, "stay or keep moving"), then each kernel, then with
        `local` "keep moving", then with `bounce` its turns down, up, right, left)."""
        b, c, height, width = frame.shape
        side = 2 * self.radius + 1
        kernels = F.softmax(self.kernel_logits(h).float().view(b, self.kernels, side * side), dim=-1)
        if self.sharp:
            kernels = straight_through(kernels, dim=-1)
        weight = kernels.view(b, 1, self.kernels, side, side).expand(b, c, -1, -1, -1)
        x = frame.float()
        padded = F.pad(x, (self.radius,) * 4, mode="replicate")
        moved = F.conv2d(padded.reshape(1, b * c, height + side - 1, width + side - 1),
                         weight.reshape(b * c * self.kernels, 1, side, side), groups=b * c)
        moved = moved.view(b, c, self.kernels, height, width)
        options = self.kernels + 1 + len(self.turns)
        logits = _read_spatial(self.choice(h).view(b, options, self.size, self.size), self.spatial, spatial).float()
        logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        if self.turns:
            with torch.no_grad():  # a fixed rule of the frames read: nothing to learn, nothing to keep for backward
                onward = keep_moving(x, x if before is None else before.float(), self.radius, turns=self.turns)
            moved = torch.cat([moved, onward], dim=2)
        choice = F.softmax(logits, dim=1)
        if self.sharp:
            choice = straight_through(choice, dim=1)
        stay = onward[:, :, 0] if self.onward else x
        out = choice[:, :1] * stay + (choice[:, None, 1:] * moved).sum(dim=2)
        return out.to(frame.dtype), choice


def keep_moving(frame: torch.Tensor, before: torch.Tensor, radius: int, sharpness: float = SHARPNESS,
                turns: tuple[str, ...] = TURNS[:1], whole: bool = False) -> torch.Tensor:
    """Every pixel of `frame` (batch, C, H, W) moved on by the offset it moved by since `before`:
    for each offset o = (dy, dx) with |dy|, |dx| <= radius, the mean squared difference between
    the pixel's 3 x 3 patch and the patch o behind it in `before`; a softmax over offsets of minus
    that times `sharpness` weighs where the pixel goes next (o further on, or o turned: see
    TURNS); `whole`: all of it to the best-matching offset, so a pixel is moved, never spread
    (the motion skip blends, in its sharp mode too). Pixels are pushed, not pulled, so where
    nothing lands stays black -> (batch, C, len(turns), H, W)."""
    height, width = frame.shape[-2:]
    behind = F.pad(before, (radius,) * 4, mode="replicate")
    offsets = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    differences = torch.stack([
        (frame - behind[:, :, radius - dy:radius - dy + height, radius - dx:radius - dx + width]).pow(2).mean(dim=1)
        for dy, dx in offsets], dim=1)  # (batch, side^2, H, W): pixel p against before at p - o
    differences = F.avg_pool2d(differences, 3, stride=1, padding=1, count_include_pad=False)
    differences[:, len(offsets) // 2] -= STAY_BONUS  # where offsets tie (inside a flat area), stay
    weights = F.softmax(-sharpness * differences, dim=1)
    if whole:
        weights = one_hot_max(weights, dim=1)
    pushed = F.pad(weights[:, None] * frame[:, :, None], (radius,) * 4)  # (batch, C, side^2, H + 2r, W + 2r)
    return torch.stack([sum(pushed[:, :, i, radius - dy:radius - dy + height, radius - dx:radius - dx + width]
                            for i, (dy, dx) in enumerate(turned(offsets, turn))) for turn in turns], dim=2)


def turned(offsets: list[tuple[int, int]], turn: str) -> list[tuple[int, int]]:
    """Each offset (dy, dx) turned the way `turn` (one of TURNS) names."""
    if turn not in TURNS:
        raise ValueError(f"unknown turn '{turn}'; known: {', '.join(TURNS)}")
    vertical = {"down": 1, "up": -1}.get(turn)
    horizontal = {"right": 1, "left": -1}.get(turn)
    return [(abs(dy) * vertical if vertical else dy, abs(dx) * horizontal if horizontal else dx) for dy, dx in offsets]


def _grown(layer: nn.Linear, out_features: int) -> nn.Linear:
    """`layer` with more outputs: the first ones as they were, the new ones with zero weight and bias."""
    grown = nn.Linear(layer.in_features, out_features)
    nn.init.zeros_(grown.weight)
    nn.init.zeros_(grown.bias)
    grown.weight[: layer.out_features] = layer.weight
    grown.bias[: layer.out_features] = layer.bias
    return grown


def straight_through(probs: torch.Tensor, dim: int) -> torch.Tensor:
    """The one-hot of `probs`' largest entry along `dim` in the forward pass, `probs`' gradient in
    the backward pass."""
    return one_hot_max(probs, dim) + probs - probs.detach()


def one_hot_max(probs: torch.Tensor, dim: int) -> torch.Tensor:
    """1 at `probs`' largest entry along `dim`, 0 elsewhere."""
    return torch.zeros_like(probs).scatter_(dim, probs.argmax(dim=dim, keepdim=True), 1.0)


def _mix(out: dict[str, torch.Tensor], keep: nn.Module | None, h: torch.Tensor,
         previous: torch.Tensor | None, motion: MotionSkip | None = None,
         before: torch.Tensor | None = None, spatial: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Apply the copy skip to a renderer's output, when the renderer has one (with the motion
    skip, the share kept is of the frame read moved)."""
    if keep is None:
        return out
    if previous is None:
        raise ValueError("a renderer with the copy skip needs the frame the step read (previous=)")
    share = keep(h, spatial)
    extra = {}
    if motion is not None:
        previous, extra["motion"] = motion(h, previous, before, spatial)
    return {**out, "frame": share * previous + (1 - share) * out["frame"], "drawn": out["frame"], "keep": share,
            **extra}


@dataclass(frozen=True)
class Skip:
    """The copy skip's settings: GameGANConfig's fields of the same names (documented there)."""

    keep_sharp: bool = False
    motion_kernels: int = 0
    motion_radius: int = 4
    motion_sharp: bool = False
    motion_local: bool = False
    motion_bounce: bool = False
    motion_onward: bool = False

    @classmethod
    def of(cls, config) -> Skip | None:
        """The settings a GameGANConfig gives its renderer's copy skip (None without it, gamegan.skip
        false); refuses the motion skip's choices where the motion skip they extend is missing."""
        settings = cls(**{f.name: getattr(config, f.name) for f in fields(cls)})
        needs = [name for name in ("motion_local", "motion_bounce", "motion_onward") if getattr(settings, name)]
        if needs and not (config.skip and settings.motion_kernels):
            raise ValueError(f"gamegan.{needs[0]} needs the motion skip (gamegan.skip true, gamegan.motion_kernels >= 1)")
        return settings if config.skip else None

    def build(self, hidden: int, size: int, spatial: int = 0) -> tuple[KeepMask, MotionSkip | None]:
        """The copy skip's modules for a state of `hidden` (and a spatial state of `spatial`
        channels) and choice maps of side `size`: its keep share and, with motion kernels, its
        motion skip."""
        keep = KeepMask(hidden, size, self.keep_sharp, spatial)
        motion = MotionSkip(hidden, self.motion_kernels, self.motion_radius, size, self.motion_sharp,
                            self.motion_local, self.motion_bounce, self.motion_onward, spatial) \
            if self.motion_kernels else None
        return keep, motion


def _doublings(size_from: int, size_to: int) -> int:
    n = math.log2(size_to / size_from)
    if n < 0 or n != int(n):
        raise ValueError(f"cannot upsample {size_from}x{size_from} to {size_to}x{size_to} by doubling")
    return int(n)


class SimpleRenderer(nn.Module):
    def __init__(self, hidden: int, read_dim: int = 0, channels: int = 32, output: str = "linear",
                 skip: Skip | None = None, spatial: int = 0, inward: bool = False):
        """skip: the copy skip's settings (None: the paper's form, without it); spatial: channels
        of the spatial state (0: none), added to the 16 x 16 layer of the deconv stack; inward:
        the clamp's gradient (to_pixels)."""
        super().__init__()
        self.keep, self.motion = skip.build(hidden, 16, spatial) if skip else (None, None)
        self.output, self.inward = check_output(output, inward), inward
        c = channels
        self.fc = nn.Linear(hidden + read_dim, 8 * c * 16)
        self.up = upsampler([8 * c, 4 * c, 2 * c, c])  # 4x4 -> 32x32
        self.out = nn.ConvTranspose2d(c, 3, 4, stride=2, padding=1)  # -> 64x64
        self.spatial = from_spatial(spatial, 2 * c, 16)

    def forward(self, h: torch.Tensor, read: torch.Tensor | None = None, previous: torch.Tensor | None = None,
                before: torch.Tensor | None = None, spatial: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """h (batch, hidden), read (batch, read_dim) or None, previous: the frame the step read
        (used by the copy skip), before: the one read a step earlier (the motion skip's "keep
        moving"), spatial: S_t (with the spatial state) -> {'frame': (batch, 3, 64, 64)} (with the
        skip also 'drawn' and 'keep')."""
        x = h if read is None else torch.cat([h, read], dim=-1)
        x = F.relu(self.fc(x)).view(len(x), -1, 4, 4)
        x = self.up[4:](_read_spatial(self.up[:4](x), self.spatial, spatial))  # S_t added at 16 x 16
        return _mix({"frame": to_pixels(self.out(x), self.output, self.inward)}, self.keep, h, previous, self.motion,
                    before, spatial)


class RenderComponent(nn.Module):
    """One component k: its type vector, object and attribute maps, rough-sketch logit and its
    own full-resolution image X^k. X^k depends on this component's input alone, so a component
    can be re-rendered from memory (the cycle loss) or swapped between models."""

    def __init__(self, in_dim: int, channels: int, type_dim: int, attribute_dim: int, map_size: int,
                 output: str = "linear", spatial: int = 0, inward: bool = False):
        """spatial: channels of the spatial state its object and attribute maps also read (0: none);
        inward: the clamp's gradient (to_pixels)."""
        super().__init__()
        self.output, self.inward = check_output(output, inward), inward
        c4 = 4 * channels
        self.type_vector = nn.Linear(in_dim, type_dim)  # v^k
        self.fc = nn.Linear(in_dim, c4 * 16)
        self.maps = nn.Sequential(
            upsampler([c4] * (_doublings(4, map_size) + 1)),
            nn.Conv2d(c4, 1 + attribute_dim, 3, padding=1),  # [O^k | A^k] at map_size
        )
        self.features = nn.Sequential(nn.Conv2d(type_dim + attribute_dim, c4, 3, padding=1), nn.ReLU())
        self.sketch = nn.Conv2d(c4, 1, 1)  # rough-sketch logit
        n = _doublings(map_size, 64)
        widths = [max(channels, c4 >> i) for i in range(n + 1)]
        self.decoder = upsampler(widths)
        self.image = nn.Conv2d(widths[-1], 3, 3, padding=1)  # X^k
        self.refine = nn.Conv2d(widths[-1], 1, 3, padding=1)  # fine-mask correction to the sketch
        self.spatial = from_spatial(spatial, 1 + attribute_dim, map_size)

    def forward(self, x: torch.Tensor,
                spatial: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x (batch, in_dim), spatial: S_t (read when built with it) -> image X^k (batch, 3, 64, 64),
        sketch logit (batch, 1, N, N), fine-mask correction (batch, 1, 64, 64)."""
        v = self.type_vector(x)  # (batch, type_dim)
        maps = _read_spatial(self.maps(F.relu(self.fc(x)).view(len(x), -1, 4, 4)), self.spatial, spatial)
        objects, attributes = torch.sigmoid(maps[:, :1]), maps[:, 1:]  # O^k (batch, 1, N, N), A^k
        f = self.features(torch.cat([objects * v[:, :, None, None], attributes], dim=1))  # (batch, 4c, N, N)
        g = self.decoder(f)
        return to_pixels(self.image(g), self.output, self.inward), self.sketch(f), self.refine(g)


class SpecializedRenderer(nn.Module):
    def __init__(self, hidden: int, read_dim: int = 0, channels: int = 32, components: int = 2,
                 type_dim: int = 32, attribute_dim: int = 16, map_size: int = 16, output: str = "linear",
                 skip: Skip | None = None, spatial: int = 0, inward: bool = False):
        """Component 0 is static and reads the memory (the hidden state when read_dim is 0);
        components 1..K-1 are dynamic and read the hidden state (and, with `spatial` channels of
        the spatial state, it too). skip: the copy skip's settings (None: the paper's form, without
        it); inward: the clamp's gradient of every component's image (to_pixels)."""
        super().__init__()
        check_output(output, inward)
        self.keep, self.motion = skip.build(hidden, map_size, spatial) if skip else (None, None)
        if components < 2:
            raise ValueError("the specialized renderer needs at least 2 components (static + dynamic)")
        self.read_dim = read_dim
        dims = [read_dim or hidden] + [hidden] * (components - 1)
        self.parts = nn.ModuleList(RenderComponent(d, channels, type_dim, attribute_dim, map_size, output,
                                                   spatial if k else 0, inward) for k, d in enumerate(dims))

    def render_static(self, read: torch.Tensor) -> torch.Tensor:
        """The static component's image X^0 (batch, 3, 64, 64) from a memory read alone."""
        return self.parts[0](read)[0]

    def forward(self, h: torch.Tensor, read: torch.Tensor | None = None, previous: torch.Tensor | None = None,
                before: torch.Tensor | None = None, spatial: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """h (batch, hidden), read (batch, read_dim) or None, previous: the frame the step read
        (the copy skip's), before: the one read a step earlier ("keep moving"'s), spatial: S_t
        (with the spatial state) -> frame (batch, 3, 64, 64), masks
        eta (batch, K, 1, 64, 64) summing to 1 over K, components X (batch, K, 3, 64, 64), sketch
        (batch, K, 1, N, N) the rough masks."""
        inputs = [read if self.read_dim else h] + [h] * (len(self.parts) - 1)
        images, sketches, refines = zip(*(part(x, spatial) for part, x in zip(self.parts, inputs)))
        components = torch.stack(images, dim=1)
        rough = F.log_softmax(torch.stack(sketches, dim=1), dim=1)  # (batch, K, 1, N, N)
        up = F.interpolate(rough.flatten(0, 1), size=(64, 64), mode="bilinear", align_corners=False)
        masks = F.softmax(up.view(len(h), -1, 1, 64, 64) + torch.stack(refines, dim=1), dim=1)
        out = {"frame": (masks * components).sum(1), "masks": masks, "components": components, "sketch": rough.exp()}
        return _mix(out, self.keep, h, previous, self.motion, before, spatial)
