"""Is it the motion skip that makes a GameGAN's open loop drift? For each checkpoint with the
motion skip (gamegan.motion_kernels > 0), the open loop from the held-out clips' first frames and
their real actions (noise 0, as benchmarks/world_model_compare.py runs it): with the motion skip
as trained; sharpened (a soft-trained skip's moves made whole-pixel shifts, as
gamegan.motion_sharp trains them; skipped for models trained sharp); and held still (every
pixel's choice forced to "stay", so the copy skip keeps the frame read unmoved; the rest of the
model unchanged). PSNR against the real frames at the given steps; copying the first frame for
reference.

    python benchmarks/gamegan_motion_still.py --run-dir runs/doom-gg16 --models gamegan_fg gamegan_motion_warm
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path


from worldsim.apps.cli import run_main
from worldsim.apps.compare.heldout import heldout_clips
from worldsim.apps.compare.predictors import load_predictors
from worldsim.apps.compare.scores import _batched, per_step_scores
from worldsim.models.gamegan.renderer import KeepMask, MotionSkip
from worldsim.run import RunDir, resolve_device


@contextmanager
def motion_held_still():
    """Within the block every MotionSkip returns the frame it read unmoved (its choice as computed)."""
    trained = MotionSkip.forward

    def still(self, h, frame, before=None):
        _, choice = trained(self, h, frame, before)
        return frame, choice

    MotionSkip.forward = still
    try:
        yield
    finally:
        MotionSkip.forward = trained


def motion_sharpened(model):
    """Within the block every MotionSkip of `model` moves by whole-pixel shifts (its sharp mode)."""
    return _switched_on(model, MotionSkip, "sharp")


def keep_hardened(model):
    """Within the block every copy skip of `model` keeps all or nothing of each pixel (its sharp
    mode: the share rounded to 0 or 1, as gamegan.keep_sharp trains it)."""
    return _switched_on(model, KeepMask, "sharp")


def motion_onward(model):
    """Within the block every MotionSkip of `model` keeps moving where it "stays" (its onward
    mode, as gamegan.motion_onward trains it; the skip must have keep moving, gamegan.motion_local)."""
    skips = [m for m in model.modules() if isinstance(m, MotionSkip)]
    if not all(m.turns for m in skips):
        raise ValueError("onward needs keep moving: the model was trained without gamegan.motion_local")
    return _switched_on(model, MotionSkip, "onward")


@contextmanager
def _switched_on(model, kind, setting: str):
    """Within the block the boolean `setting` of every module of type `kind` in `model` is on."""
    modules = [m for m in model.modules() if isinstance(m, kind)]
    trained = [getattr(m, setting) for m in modules]
    for m in modules:
        setattr(m, setting, True)
    try:
        yield
    finally:
        for m, value in zip(modules, trained):
            setattr(m, setting, value)


def open_loop_psnr(predictor, held, steps: list[int], batch: int, device) -> list[float]:
    """Mean PSNR over the clips at each open-loop step in `steps` (1-based), the frames batched,
    scaled and rounded to 8 bits exactly as world_model_compare.py does."""
    generated = _batched(predictor.open_loop, (held.frames[:, 0], held.actions), batch, device,
                         predictor.name, progress=False)
    psnr = per_step_scores(generated, held.frames[:, 1:])["psnr"].mean(axis=0)
    return [float(psnr[s - 1]) for s in steps]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--models", nargs="+", required=True, help="GameGAN checkpoints (checkpoints/NAME.pt)")
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=32)
    parser.add_argument("--steps", type=int, nargs="+", default=[1, 8, 16, 32], help="open-loop steps reported")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if max(args.steps) > args.horizon or min(args.steps) < 1:
        raise ValueError(f"--steps must lie within 1..--horizon ({args.horizon})")
    run = RunDir(args.run_dir)
    cfg = run.load_config()
    held = heldout_clips(run, cfg, args.clips, args.horizon)
    device = resolve_device(args.device)
    predictors = load_predictors(run, cfg, args.models, device)
    print(f"open-loop PSNR (dB) on {len(held.frames)} held-out clips of {held.actions.shape[1]} steps")
    print("| model | motion skip | " + " | ".join(f"@{s}" for s in args.steps) + " |")
    print("|---|---|" + "---:|" * len(args.steps))
    copy = per_step_scores(held.frames[:, :1].expand_as(held.frames[:, 1:]), held.frames[:, 1:])["psnr"].mean(axis=0)
    print("| *copy the first frame* | | " + " | ".join(f"{float(copy[s - 1]):.2f}" for s in args.steps) + " |")
    for p in predictors:
        if not any(isinstance(m, MotionSkip) for m in p.model.modules()):
            raise ValueError(f"{p.name} has no motion skip (gamegan.motion_kernels 0)")
        rows = {"as trained": open_loop_psnr(p, held, args.steps, args.batch, device)}
        if not p.model.config.motion_sharp:
            with motion_sharpened(p.model):
                rows["sharpened"] = open_loop_psnr(p, held, args.steps, args.batch, device)
        with motion_held_still():
            rows["held still"] = open_loop_psnr(p, held, args.steps, args.batch, device)
        for mode, psnr in rows.items():
            print(f"| {p.name} | {mode} | " + " | ".join(f"{v:.2f}" for v in psnr) + " |")
    return 0


if __name__ == "__main__":
    run_main(main)
