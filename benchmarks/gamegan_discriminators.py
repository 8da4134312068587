"""Can GameGAN's discriminators tell the real game from a trained generator? The generator of a
checkpoint is held fixed; fresh discriminators are trained alone against it, with the trainer's
own D step (GameGANTrainer.discriminator_step: the hinge losses, action and noise
reconstruction, the R1 penalty), once per --variant of the discriminator-side settings, all on
the same clips; their held-out accuracy and hinge loss are printed as they train.

Clips are the trainer's: --pool batches of gamegan.batch_size clips of gamegan.clip_len steps
from the training episodes (its clip stream, end_bias and start_bias included), and --clips from the episodes
it holds out; the generator rolls each out from its real frames with the adversarial phase's
floor of teacher forcing (gamegan.warm_up_floor real frames, then its own) and fresh noise, as
it does in training. Accuracy: the share of real frames (transitions, clips) a discriminator
scores above 0 and of generated ones below 0, averaged (0.5: it cannot tell them apart); the
temporal one's logits are averaged over its time scales per clip. A discriminator at 0.5, whose
hinge loss stays at 2, gives the generator nothing to learn from. With patches (patch_weight > 0)
the frame discriminator's cells are scored alike, over the cells it judges (patch_cells; over all
256, a cell that shows the same in both, as most of a still backdrop does, is judged at chance).

Does a discriminator look at a small object? --erase NAME:R,G,B@ROWS,COLUMNS paints the object's
pixels (and their neighbours) in the held-out real frames that show it with the generator's
background, and prints what the frame discriminator makes of those frames beside the same frames
untouched and the generated ones: its mean logit, and with patches the sum of its cells' logits
per frame. If erasing the ball leaves a verdict where it was, the ball does not enter it.

    python benchmarks/gamegan_discriminators.py --run-dir runs/breakout --model gamegan_spatial_adv \\
        --variant r1_gamma=10 --variant r1_gamma=0.1 --variant r1_gamma=0.1,d_background_gain=4 \
        --erase ball:200,72,72@31-55,5-58
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
import torch.nn.functional as F

import envs
from worldsim.apps.cli import run_main
from worldsim.config import GameGANConfig, parse_field
from worldsim.data.clips import fixed_clips, iter_clip_batches
from worldsim.data.episodes import list_episodes, split_episodes
from worldsim.data.frames import object_mask, parse_object
from worldsim.models.gamegan.losses import d_hinge, wrong_actions
from worldsim.models.gamegan.model import GameGAN, as_frames, load_gamegan
from worldsim.models.vae import tensor_to_frames
from worldsim.run import RunDir, resolve_device
from worldsim.training.gamegan import GameGANTrainer, parse_flip_pairs

DISCRIMINATOR_FIELDS = ("r1_gamma", "r1_every", "spectral_norm", "d_background_gain", "patch_weight",
                        "patch_cells", "d_channels", "temporal_scales", "lr", "beta1", "beta2", "action_weight", "noise_weight")
"""GameGANConfig fields a variant may set: they shape or train the discriminators alone"""


def parse_variant(text: str) -> dict:
    """'FIELD=VALUE,FIELD=VALUE' (fields of DISCRIMINATOR_FIELDS) -> {field: typed value}."""
    out = {}
    for part in filter(None, text.split(",")):
        name, sep, value = part.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"variant '{text}': write FIELD=VALUE, not '{part}'")
        if name not in DISCRIMINATOR_FIELDS:
            raise argparse.ArgumentTypeError(f"variant '{text}': '{name}' is not a discriminator setting "
                                             f"({', '.join(DISCRIMINATOR_FIELDS)})")
        try:
            out[name] = parse_field(GameGANConfig, name, value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"variant '{text}': {exc}") from None
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--model", default="gamegan", help="the GameGAN checkpoint's name (checkpoints/NAME.pt)")
    parser.add_argument("--variant", action="append", type=parse_variant, metavar="FIELD=VALUE,...",
                        help="discriminator settings to train with, over the checkpoint's (repeatable; "
                             "default: the checkpoint's own settings)")
    parser.add_argument("--erase", metavar="NAME:R,G,B@ROWS,COLUMNS",
                        help="also score held-out real frames with this object painted over (see above)")
    parser.add_argument("--steps", type=int, default=600, help="D steps per variant (default 600)")
    parser.add_argument("--eval-every", type=int, default=150)
    parser.add_argument("--pool", type=int, default=64, help="training batches generated once (default 64)")
    parser.add_argument("--clips", type=int, default=64, help="held-out clips (default 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    if args.steps < 1 or args.eval_every < 1 or args.pool < 1 or args.clips < 1:
        parser.error("--steps, --eval-every, --pool and --clips must be >= 1")
    if args.erase:
        try:
            _, colour, _ = parse_object(args.erase)
        except ValueError as exc:
            parser.error(f"--erase: {exc}")
        if colour is None:
            parser.error("--erase: give the object's colour (R,G,B), not 'any'")
    return args


def rolled_out(generator: GameGAN, frames: np.ndarray, actions: np.ndarray, warm_up: int,
               device: torch.device) -> dict[str, torch.Tensor]:
    """Real clips (n, T+1, 64, 64, 3) uint8 and the fixed generator's rollout of them."""
    real = as_frames(torch.as_tensor(frames, device=device))
    a = torch.as_tensor(actions, device=device)
    with torch.no_grad():
        out = generator.rollout(real, a, warm_up)
    return {"real": real, "actions": a, "frames": out["frames"], "inputs": out["inputs"], "noise": out["noise"]}


@torch.no_grad()
def accuracy(trainer: GameGANTrainer, held: dict[str, torch.Tensor]) -> dict[str, float]:
    """Each discriminator's held-out accuracy (real above 0, generated below 0, averaged) and the
    frame and temporal hinge losses."""
    ds, g = trainer.discriminators, trainer.generator
    ds.eval()
    a = held["actions"]
    wrong = g.encode_actions(wrong_actions(a, g.action_dim, trainer.discrete))
    out = ds(held["real"], held["frames"], held["inputs"], g.encode_actions(a), wrong)
    ds.train()

    def both(real: torch.Tensor, fake: torch.Tensor) -> float:
        return 0.5 * ((real > 0).float().mean() + (fake < 0).float().mean()).item()

    temporal_real = torch.stack([t.mean(1) for t in out["temporal_real"]]).mean(0)
    temporal_fake = torch.stack([t.mean(1) for t in out["temporal_fake"]]).mean(0)
    scores = {"frame": both(out["frame_real"], out["frame_fake"]),
              "action": both(out["action_real"], out["action_fake"]),
              "temporal": both(temporal_real, temporal_fake),
              "frame_hinge": d_hinge(out["frame_real"], out["frame_fake"]).item(),
              "temporal_hinge": (sum(d_hinge(r, f) for r, f in zip(out["temporal_real"], out["temporal_fake"]))
                                 / len(out["temporal_real"])).item()}
    if "patch_real" in out:
        scores["patch"] = both(out["patch_real"], out["patch_fake"])
        scores["patch_hinge"] = d_hinge(out["patch_real"], out["patch_fake"]).item()
    return scores


def erased(frames: torch.Tensor, spec: str, background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Real frames (n, 3, 64, 64) in [0, 1] -> those that show the object (--erase), untouched and
    with the object's pixels and their 8 neighbours painted with the background (1, 3, 64, 64)."""
    _, colour, box = parse_object(spec)
    mask = torch.as_tensor(object_mask(tensor_to_frames(frames), colour, box), device=frames.device)[:, None].float()
    shows = mask.flatten(1).amax(1) > 0
    grown = F.max_pool2d(mask, 3, stride=1, padding=1)[shows]
    kept = frames[shows]
    return kept, kept * (1 - grown) + background * grown


@torch.no_grad()
def judged(trainer: GameGANTrainer, frames: torch.Tensor) -> tuple[float, float | None]:
    """The frame discriminator's mean logit over frames (n, 3, 64, 64), and with patches the mean
    over frames of its cells' logits summed."""
    frame = trainer.discriminators.frame
    frame.eval()
    logits, features = frame(frames)
    cells = frame.patches(features).sum(1).mean().item() if frame.patch_head is not None else None
    frame.train()
    return logits.mean().item(), cells


def main() -> int:
    args = parse_args()
    device = resolve_device(args.device)
    run = RunDir(args.run_dir)
    cfg = run.load_config()
    generator, meta = load_gamegan(run.gamegan_checkpoint(args.model), env=cfg.env, device=device)
    gc = generator.config
    game = envs.info(cfg.env)
    flip_pairs = parse_flip_pairs(gc.flip_pairs, game)
    train, val = split_episodes(list_episodes(run.episodes), gc.val_fraction, cfg.seed)
    print(f"{args.run_dir}, generator {args.model}; CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"device {device}", flush=True)

    def trainer_for(variant: dict) -> GameGANTrainer:
        torch.manual_seed(args.seed)
        trainer = GameGANTrainer(dataclasses.replace(gc, **variant), meta["action_dim"], meta["discrete_actions"],
                                 flip_pairs, device)
        trainer.generator.load_state_dict(generator.state_dict())
        trainer.share_background()
        return trainer

    start = time.perf_counter()
    torch.manual_seed(args.seed)
    stream = iter_clip_batches(train, gc.batch_size, gc.clip_len, gc.buffer_episodes,
                               np.random.default_rng(args.seed), gc.end_bias, gc.start_bias)
    pool = [rolled_out(generator, *next(stream), gc.warm_up_floor, device) for _ in range(args.pool)]
    held = rolled_out(generator, *fixed_clips(val, gc.clip_len, args.clips), gc.warm_up_floor, device)
    mse = (held["frames"] - held["real"][:, 1:]).pow(2).mean().item()
    print(f"{args.pool} training batches of {gc.batch_size} clips and {len(held['real'])} held-out clips of "
          f"{gc.clip_len} steps, {gc.warm_up_floor} real frames each ({time.perf_counter() - start:.0f} s); "
          f"held-out MSE of the generated frames {mse:.6f}", flush=True)
    if args.erase:
        if not gc.background_gain:
            raise SystemExit("--erase paints the object with the generator's background: this checkpoint has none "
                             "(gamegan.background_gain 0)")
        intact, painted = erased(held["real"][:, 1:].flatten(0, 1), args.erase, generator.dynamics.background)
        if not len(intact):
            raise SystemExit(f"--erase {args.erase}: no held-out real frame shows it")
        print(f"--erase {args.erase}: {len(intact)} held-out real frames show it", flush=True)
    for variant in args.variant or [{}]:
        rng = np.random.default_rng(args.seed)  # every variant draws the pool's batches in the same order
        trainer = trainer_for(variant)
        name = ", ".join(f"{k} {v}" for k, v in variant.items()) or "the checkpoint's settings"
        print(f"{name}:", flush=True)
        start = time.perf_counter()
        for step in range(args.steps + 1):
            if step % args.eval_every == 0 or step == args.steps:
                scores = accuracy(trainer, held)
                patch = (f"  patch {scores['patch']:.3f} / {scores['patch_hinge']:.3f}" if "patch" in scores else "")
                print(f"  D step {step:5d}  accuracy: frame {scores['frame']:.3f}  action {scores['action']:.3f}  "
                      f"temporal {scores['temporal']:.3f}   hinge: frame {scores['frame_hinge']:.3f}  "
                      f"temporal {scores['temporal_hinge']:.3f}{patch}  ({time.perf_counter() - start:.0f} s)",
                      flush=True)
                if args.erase:
                    verdicts = [judged(trainer, x) for x in (intact, painted, held["frames"].flatten(0, 1))]
                    line = "  ".join(f"{k} {v[0]:+.3f}" for k, v in zip(("real", "erased", "generated"), verdicts))
                    if verdicts[0][1] is not None:
                        line += "   patch cells summed: " + "  ".join(
                            f"{k} {v[1]:+.2f}" for k, v in zip(("real", "erased", "generated"), verdicts))
                    print(f"             frame logit: {line}", flush=True)
            if step == args.steps:
                break
            batch = pool[rng.integers(len(pool))]
            trainer.discriminator_step(batch["real"], batch["actions"], batch)
            trainer.step += 1  # the R1 penalty's lazy schedule counts steps
    return 0


if __name__ == "__main__":
    run_main(main)
