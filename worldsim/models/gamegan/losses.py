"""GameGAN's losses, as pure functions of model outputs: hinge GAN losses for the three
discriminators, action and noise reconstruction, feature matching, pixel reconstruction, the
memory cycle loss, the mask sparsity penalty and the R1 gradient penalty (paper, Sec. 3.4-3.5)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from worldsim.config import GameGANConfig
from worldsim.models.gamegan.discriminators import Discriminators, differing_cells


def d_hinge(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def g_hinge(fake: torch.Tensor) -> torch.Tensor:
    return -fake.mean()


def action_loss(predicted: torch.Tensor, actions: torch.Tensor, discrete: bool) -> torch.Tensor:
    """Cross-entropy of action logits (n, A) against indices (n,); MSE for continuous actions (n, A)."""
    if discrete:
        return F.cross_entropy(predicted.float(), actions.long())
    return F.mse_loss(predicted.float(), actions.float())


def noise_loss(predicted: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(predicted.float(), noise.float())


def feature_matching(fake: list[torch.Tensor], real: list[torch.Tensor]) -> torch.Tensor:
    """L1 between a discriminator's features of each generated frame and of its real counterpart,
    averaged over levels (paired, as the generated clip follows the real one)."""
    return sum(F.l1_loss(f.float(), r.float().detach()) for f, r in zip(fake, real)) / len(fake)


REDUCTIONS = ("frame_sum", "mean")


def reduce_frames(error: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-value errors of frames (..., 3, 64, 64) -> one number: "frame_sum" sums each frame's
    values and averages over frames (a frame of 12,288 values in [0, 1] that is wrong by 0.1
    everywhere costs 122.88 under l2); "mean" averages over values (the same frame costs 0.01)."""
    if reduction == "frame_sum":
        return error.sum(dim=(-3, -2, -1)).mean()
    if reduction == "mean":
        return error.mean()
    raise ValueError(f"gamegan.recon_reduction must be one of {', '.join(REDUCTIONS)}, not '{reduction}'")


CHANGE_THRESHOLD = 1 / 16
"""a pixel changes from one real frame to the next when a channel moves by more than this"""


def changed_pixels(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """Frames (..., 3, 64, 64) in [0, 1] -> bool (..., 1, 64, 64): True where any channel differs
    from `before` to `after` by more than CHANGE_THRESHOLD."""
    return (after.float() - before.float()).abs().amax(dim=-3, keepdim=True) > CHANGE_THRESHOLD


def change_weights(before: torch.Tensor, after: torch.Tensor, weight: float) -> torch.Tensor:
    """Frames (..., 3, 64, 64) in [0, 1] -> per-pixel weights (..., 1, 64, 64): `weight` where the
    pixel changes from `before` to `after` (changed_pixels), 1 elsewhere."""
    return 1 + (weight - 1) * changed_pixels(before, after).float()


def reconstruction_loss(fake: torch.Tensor, real: torch.Tensor, norm: str, reduction: str = "frame_sum",
                        weights: torch.Tensor | None = None) -> torch.Tensor:
    """Pixel error of generated frames against real ones (..., 3, 64, 64) in [0, 1]: squared (l2)
    or absolute (l1), each pixel times `weights` (..., 1, 64, 64) when given (change_weights),
    reduced as `reduction` (reduce_frames)."""
    diff = fake.float() - real.float()
    if norm == "l2":
        error = diff.pow(2)
    elif norm == "l1":
        error = diff.abs()
    else:
        raise ValueError(f"gamegan.recon_norm must be 'l2' or 'l1', not '{norm}'")
    return reduce_frames(error if weights is None else error * weights, reduction)


def clip_reconstruction(fake: torch.Tensor, real: torch.Tensor, cfg: GameGANConfig) -> torch.Tensor:
    """The reconstruction term of a rollout: generated x_1..x_T (batch, T, 3, 64, 64) against the
    real clip x_0..x_T (batch, T+1, 3, 64, 64), pixels that change in the real clip weighted by
    cfg.change_weight."""
    weights = change_weights(real[:, :-1], real[:, 1:], cfg.change_weight) if cfg.change_weight != 1 else None
    return reconstruction_loss(fake, real[:, 1:], cfg.recon_norm, cfg.recon_reduction, weights)


def rollout_reconstruction(out: dict[str, torch.Tensor], real: torch.Tensor,
                           cfg: GameGANConfig) -> dict[str, torch.Tensor]:
    """A rollout's reconstruction terms, unweighted: 'recon' (its frames, clip_reconstruction) and,
    with cfg.drawn_weight > 0, 'recon_drawn' (the renderer's drawing before the copy skip, which
    the rollout records as 'drawn')."""
    parts = {"recon": clip_reconstruction(out["frames"], real, cfg)}
    if cfg.drawn_weight > 0:  # GameGAN refuses drawn_weight without the copy skip, so 'drawn' is there
        parts["recon_drawn"] = clip_reconstruction(out["drawn"], real, cfg)
    return parts


def reconstruction_weights(cfg: GameGANConfig) -> dict[str, float]:
    """The weights of rollout_reconstruction's terms in the generator's loss."""
    return {"recon": cfg.recon_weight, "recon_drawn": cfg.recon_weight * cfg.drawn_weight}


def cycle_loss(reread_static: torch.Tensor, static: torch.Tensor, reduction: str = "frame_sum") -> torch.Tensor:
    """L1 between the static component re-rendered from the final memory and as rendered during
    the rollout, reduced as `reduction`: what was written at a place must still be there when
    read back."""
    return reduce_frames((reread_static.float() - static.float()).abs(), reduction)


def mask_sparsity(masks: torch.Tensor) -> torch.Tensor:
    """L1 of the dynamic components' masks (batch, T, K, 1, 64, 64); component 0 is static.
    Masks are non-negative, so L1 is their mean."""
    return masks[:, :, 1:].float().mean()


def wrong_actions(actions: torch.Tensor, action_dim: int, discrete: bool,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Actions that did not cause the transitions: for discrete games another action, never the
    taken one (a permutation often keeps it when there are 3 actions); for continuous games the
    batch's actions permuted. Same shape as `actions`."""
    if discrete:
        offset = torch.randint(1, action_dim, actions.shape, device=actions.device, generator=generator)
        return (actions.long() + offset) % action_dim
    flat = actions.flatten(0, -2)
    perm = torch.randperm(len(flat), device=actions.device, generator=generator)
    return flat[perm].view_as(actions)


def discriminator_loss(outputs: dict[str, torch.Tensor], actions: torch.Tensor, noise: torch.Tensor,
                       cfg: GameGANConfig, discrete: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """Discriminators.forward outputs -> total D loss and its parts. A real transition under a wrong
    action counts as fake for the action-conditioned D (half of its fake term); actions are
    reconstructed from real transitions only, noise from generated ones. With patches the frame
    discriminator's patch logits add their own hinge loss (over the cells judged, 2 at chance)."""
    frame = d_hinge(outputs["frame_real"], outputs["frame_fake"])
    action = F.relu(1 - outputs["action_real"]).mean() + 0.5 * (
        F.relu(1 + outputs["action_fake"]).mean() + F.relu(1 + outputs["action_wrong"]).mean())
    temporal = sum(d_hinge(r, f) for r, f in zip(outputs["temporal_real"], outputs["temporal_fake"]))
    temporal = temporal / len(outputs["temporal_real"])
    action_rec = action_loss(outputs["action_pred_real"], actions.flatten(0, 1), discrete)
    noise_rec = noise_loss(outputs["noise_pred_fake"], noise.flatten(0, 1))
    total = frame + action + temporal + cfg.action_weight * action_rec + cfg.noise_weight * noise_rec
    parts = {"d_frame": frame, "d_action": action, "d_temporal": temporal, "d_action_rec": action_rec,
             "d_noise_rec": noise_rec}
    if "patch_real" in outputs:
        parts["d_patch"] = d_hinge(outputs["patch_real"], outputs["patch_fake"])
        total = total + parts["d_patch"]
    if "r1" in outputs:  # lazy regularisation: every r1_every steps, scaled by r1_every
        parts["r1"] = outputs["r1"]
        total = total + 0.5 * cfg.r1_gamma * cfg.r1_every * outputs["r1"]
    return total, {k: v.item() for k, v in parts.items()}


def generator_loss(ds: Discriminators, real: torch.Tensor, actions: torch.Tensor, encoded_actions: torch.Tensor,
                   out: dict[str, torch.Tensor], cfg: GameGANConfig,
                   discrete: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """G's loss for a rollout `out` of the real clip `real` (batch, T+1, 3, 64, 64): hinge terms of
    all three discriminators, feature matching, action and noise reconstruction on generated
    transitions, pixel reconstruction (with drawn_weight, of the drawing before the copy skip
    too: rollout_reconstruction), and (when present) the patch hinge term (times
    cfg.patch_weight), the cycle loss and mask sparsity."""
    fake, inputs = out["frames"], out["inputs"]  # (batch, T, 3, 64, 64)
    frame_logits, fake_features = ds.frame(fake.flatten(0, 1))
    with torch.no_grad():
        real_features = ds.frame(real[:, 1:].flatten(0, 1))[1]
    transitions = ds.action(inputs.flatten(0, 1), fake.flatten(0, 1), encoded_actions.flatten(0, 1))
    temporal = ds.temporal(torch.cat([real[:, :1], fake], dim=1))
    parts = {
        "g_frame": g_hinge(frame_logits),
        "g_action": g_hinge(transitions["logit"]),
        "g_temporal": sum(g_hinge(t) for t in temporal) / len(temporal),
        "feature_match": feature_matching(fake_features, real_features),
        "g_action_rec": action_loss(transitions["action"], actions.flatten(0, 1), discrete),
        "g_noise_rec": noise_loss(transitions["noise"], out["noise"].flatten(0, 1)),
        **rollout_reconstruction(out, real, cfg),
    }
    weights = {"feature_match": cfg.feature_match_weight, "g_action_rec": cfg.action_weight,
               "g_noise_rec": cfg.noise_weight, **reconstruction_weights(cfg)}
    if ds.frame.patch_head is not None:
        chosen = differing_cells(real[:, 1:].flatten(0, 1), fake.flatten(0, 1), ds.patch_cells)
        parts["g_patch"] = g_hinge(ds.frame.patches(fake_features, chosen))
        weights["g_patch"] = cfg.patch_weight
    if "cycle_static" in out:
        parts["cycle"] = cycle_loss(out["cycle_static"], out["components"][:, :, 0], cfg.recon_reduction)
        weights["cycle"] = cfg.cycle_weight
    if "masks" in out:
        parts["mask_l1"] = mask_sparsity(out["masks"])
        weights["mask_l1"] = cfg.mask_weight
    total = sum(weights.get(k, 1.0) * v for k, v in parts.items())
    return total, {k: v.item() for k, v in parts.items()}

