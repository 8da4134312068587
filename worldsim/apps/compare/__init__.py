"""GameGAN against V+M on the same held-out clips (issue 4): how closely each model follows the
real game from a real first frame and the real actions (open loop), whether its transitions show
the action taken, and whether it remembers what it showed before turning away."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

import envs
from worldsim.apps.compare.action_probe import action_conditioning
from worldsim.apps.compare.counterfactual import AXES, judge, object_turn, turn
from worldsim.apps.compare.heldout import heldout_clips, heldout_overlap, spread
from worldsim.apps.compare.memory_probe import memory_actions, out_and_back, real_game_paths
from worldsim.apps.compare.objects import ObjectTrack, tracked_object
from worldsim.apps.compare.predictors import VMPredictor, load_predictors
from worldsim.apps.compare.report import horizon_plot, hwc, labelled, markdown, open_loop_video
from worldsim.apps.compare.scores import HORIZONS, _batched, per_step_scores, summarise
from worldsim.data.frames import parse_object
from worldsim.io import atomic_write_with, write_json
from worldsim.media import save_png, save_video
from worldsim.run import RunDir

__all__ = ["CompareSettings", "compare", "markdown"]


@dataclass
class CompareSettings:
    clips: int = 64
    """held-out clips for the open-loop errors and the classifier's held-out pairs"""
    horizon: int = 32
    """transitions per clip (clips have horizon + 1 frames)"""
    batch: int = 16
    """clips per model call"""
    classifier_steps: int = 600
    """training steps of the action classifier"""
    classifier_batch: int = 64
    """transition pairs per training step of the action classifier"""
    classifier_episodes: int = 64
    """training episodes the classifier's pairs are drawn from"""
    classifier_stride: int = 4
    """k: the classifier reads pairs (x_t, x_{t+k}) over windows where one action is held k steps.
    In Doom (one tic a step, with momentum) a single step barely shows its action: on real held-out
    pairs k = 1 gave 0.48 accuracy against a 0.41 majority class, k = 4 gave 0.81 against 0.43."""
    memory_steps: int = 8
    """N: the memory check goes N steps left, then N steps right"""
    memory_starts: int = 16
    """real start frames of the memory check (held-out clip starts)"""
    memory_actions: tuple[int, int] | None = None
    """(left, right) action indices; None: the game's own (Doom TakeCover 0, 2)"""
    counterfactual_object: str = ""
    """'': the counterfactual check measures the view's horizontal turn (a first-person game).
    NAME:R,G,B@R0-R1,C0-C1: it measures how far that object's centre moves instead (a fixed-camera
    game), e.g. Pong's paddle player:92,186,92@10-58,52-63 or Breakout's paddle:200,72,72@56-60,4-59"""
    counterfactual_axis: str = "columns"
    """the object's coordinate the counterfactual check reads: rows (Pong's paddle) or columns"""
    track_objects: tuple[str, ...] | None = None
    """small objects whose keeping in open loop is scored (worldsim.apps.compare.objects), each
    NAME:R,G,B@R0-R1,C0-C1; None: the game's own ball and paddle where it names them
    (GameInfo.ball_and_paddle, e.g. Breakout's; those with a colour: Pong's paddle, not its ball);
    none given: no such table"""
    real_seeds: int = 4
    """real-game episodes for the memory check's reference (0: skip the real game)"""
    video_clips: int = 4
    """held-out clips shown in the open-loop video"""
    fps: int = 8
    """frames per second of the open-loop video"""
    video_format: str = "gif"
    """open-loop video format: gif or mp4"""
    seed: int = 0
    """seed of the classifier's data and weights"""


def compare(run_dir: str | Path, models: list[str] | None = None, settings: CompareSettings | None = None,
            out: str | Path | None = None, device: str | torch.device = "cpu", progress: bool = True) -> dict:
    """Run the three measurements on a run's models; write compare.json, horizon.png,
    open_loop.{gif,mp4} and memory.png into `out` (default RUN/compare); return the results."""
    s = settings or CompareSettings()
    if min(s.horizon, s.clips, s.memory_steps, s.classifier_stride, s.classifier_steps, s.batch) < 1:
        raise ValueError("--horizon, --clips, --memory-steps, --classifier-stride, --classifier-steps and --batch "
                         "must be at least 1")
    if s.video_format not in ("gif", "mp4"):
        raise ValueError(f"--video-format must be gif or mp4, not {s.video_format!r}")
    if s.counterfactual_object:
        parse_object(s.counterfactual_object)  # a malformed spec fails here, not after the models ran
    if s.counterfactual_axis not in AXES:
        raise ValueError(f"--counterfactual-axis must be one of {', '.join(AXES)}, not {s.counterfactual_axis!r}")
    t_start = time.perf_counter()
    run = RunDir(run_dir)
    cfg = run.load_config()
    out = Path(out) if out is not None else run.root / "compare"
    device = torch.device(device)
    game = envs.info(cfg.env)
    # the game's own objects, those with a colour (Pong's 'any' ball cannot be told apart in a generated frame)
    tracked = [spec for spec in game.ball_and_paddle if parse_object(spec)[1] is not None] \
        if s.track_objects is None else s.track_objects
    for spec in tracked:
        tracked_object(spec)  # refused here, not after the models ran
    discrete = game.discrete
    left_right = memory_actions(game, s.memory_actions) if discrete else None
    predictors = load_predictors(run, cfg, models, device)
    held = heldout_clips(run, cfg, s.clips, s.horizon, s.seed)
    n, steps = held.actions.shape[:2]
    horizons = [h for h in HORIZONS if h <= steps] or [steps]
    if steps not in horizons and steps > max(horizons):
        horizons.append(steps)
    real_next = held.frames[:, 1:]
    results: dict = {
        "run_dir": str(run.root), "env": cfg.env, "clips": n, "horizon": steps, "horizons": horizons,
        "settings": asdict(s), "device": str(device),
        "heldout": {"split": f"split_episodes(gamegan.val_fraction={cfg.gamegan.val_fraction}, seed={cfg.seed})",
                    "episodes": len(held.val_paths), "train_episodes": len(held.train_paths)},
        "models": {p.name: p.info for p in predictors},
    }
    if any(isinstance(p, VMPredictor) for p in predictors):
        results["heldout"]["vm_overlap"] = heldout_overlap(run, cfg, held.val_paths)

    # a. open loop and one step
    first = held.frames[:, 0]
    open_loop: dict[str, torch.Tensor] = {}
    one_step: dict[str, torch.Tensor] = {}
    for p in predictors:
        open_loop[p.name] = _batched(p.open_loop, (first, held.actions), s.batch, device, f"{p.name} open loop", progress)
        one_step[p.name] = _batched(p.one_step, (held.frames[:, :steps], held.actions), s.batch, device,
                                    f"{p.name} one step", progress)
    references = {"copy_first_frame": first[:, None].expand_as(real_next)}
    vm = next((p for p in predictors if isinstance(p, VMPredictor)), None)
    if vm is not None:
        references["vae_reconstruction"] = _batched(vm.reconstruct, (real_next,), s.batch, device, "V", progress)
    results["open_loop"] = {name: summarise(per_step_scores(gen, real_next), horizons)
                            for name, gen in open_loop.items()}
    for name, gen in references.items():
        results["open_loop"][name] = {**summarise(per_step_scores(gen, real_next), horizons), "reference": True}
    one = {name: per_step_scores(gen, real_next) for name, gen in one_step.items()}
    one["copy_last_frame"] = per_step_scores(held.frames[:, :steps], real_next)
    results["one_step"] = {name: {"psnr": round(float(v["psnr"].mean()), 4), "ssim": round(float(v["ssim"].mean()), 4),
                                  "mse": round(float(v["mse"].mean()), 6)} for name, v in one.items()}
    results["one_step"]["copy_last_frame"]["reference"] = True
    if tracked:
        results["objects"] = {}
        for spec in tracked:
            track = ObjectTrack(real_next, spec)
            scores = {name: track.open_loop(gen) for name, gen in {**open_loop, **references}.items()}
            for name, gen in one_step.items():  # every step from the real frame before it
                scores[name]["one_step"] = track.every_step(gen)
            results["objects"][track.name] = scores

    # b. action conditioning
    if discrete:
        results["action_classifier"] = action_conditioning(predictors, held, open_loop, game.num_actions, s, device,
                                                           progress)
    else:
        results["action_classifier"] = {"skipped": "continuous actions"}

    # c. memory
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    strip_rows, strip_labels = [], []
    if discrete:
        left, right = left_right
        k = s.memory_steps
        sequence = [left] * k + [right] * k
        picks = spread(n, s.memory_starts)
        starts = first[picks]
        memory = {"steps_each_way": k, "actions": [left, right], "models": {}}
        seq = torch.as_tensor(sequence).expand(len(picks), -1).contiguous()
        for p in predictors:
            gen = _batched(p.open_loop, (starts, seq), s.batch, device, f"{p.name} memory", progress)
            path = torch.cat([starts[:, None], gen], dim=1)
            memory["models"][p.name] = out_and_back(path, k)
            strip_rows.append(hwc(path[0]))
            strip_labels.append(p.name)
        if s.real_seeds > 0:
            seeds = list(range(10_000, 10_000 + s.real_seeds))
            real_paths = real_game_paths(cfg.env, sequence, seeds, progress)
            if len(real_paths):
                memory["real_game"] = {**out_and_back(real_paths, k), "seeds": seeds}
                strip_rows.append(hwc(real_paths[0]))
                strip_labels.append("real game*")
            else:
                memory["real_game"] = {"skipped": f"every episode ended within {2 * k} steps"}
        results["memory"] = memory
        results["counterfactual"] = _counterfactual(predictors, starts, left, right, k, s, cfg.env, device, progress)
        save_png(out / "memory.png", labelled(strip_rows, strip_labels))
        files["memory_strip"] = "memory.png"
    else:
        results["memory"] = {"skipped": "continuous actions"}
        results["counterfactual"] = {"skipped": "continuous actions"}

    # pictures
    atomic_write_with(out / "horizon.png", lambda f: f.write(horizon_plot(results["open_loop"], horizons)))
    files["horizon_plot"] = "horizon.png"
    video = open_loop_video(held.frames, open_loop, spread(n, s.video_clips))
    name = f"open_loop.{s.video_format}"
    save_video(out / name, video, fps=s.fps)
    files["open_loop_video"] = name
    results["files"] = {**files, "results": "compare.json"}
    results["seconds"] = round(time.perf_counter() - t_start, 1)
    write_json(out / "compare.json", results)
    return results


def _counterfactual(predictors, starts: torch.Tensor, left: int, right: int, k: int, s: CompareSettings, env: str,
                    device, progress: bool) -> dict:
    """From each start, k steps of `left` and k of `right` in every model; the real game's turn for
    the same actions from its own starts (seeds) is the reference (worldsim.apps.compare.counterfactual)."""
    result = {"steps": k, "actions": [left, right], "models": {}}
    if s.counterfactual_object:
        name, colour, box = parse_object(s.counterfactual_object)
        if colour is None:
            raise ValueError("--counterfactual-object needs the object's colour (R,G,B), not 'any'")
        result["object"] = {"name": name, "spec": s.counterfactual_object, "axis": s.counterfactual_axis}

        def measure(start, after_left, after_right):
            return object_turn(after_left, after_right, colour, box, s.counterfactual_axis)
    else:
        measure = turn
    real = {}
    if s.real_seeds > 0:
        seeds = list(range(10_000, 10_000 + s.real_seeds))
        paths = {a: real_game_paths(env, [a] * k, seeds, progress) for a in (left, right)}
        if len(paths[left]) and len(paths[left]) == len(paths[right]):
            real = {"turn_px": measure(paths[left][:, 0], paths[left][:, -1], paths[right][:, -1]).tolist(),
                    "seeds": seeds}
            result["real_game"] = real
    for p in predictors:
        ends = {}
        for a in (left, right):
            actions = torch.full((len(starts), k), a, dtype=torch.long)
            ends[a] = _batched(p.open_loop, (starts, actions), s.batch, device, f"{p.name} {a} x {k}", progress)[:, -1]
        turns = measure(starts, ends[left], ends[right])
        result["models"][p.name] = {**judge(turns, np.array(real.get("turn_px", []), dtype=float)),
                                    "turn_px": turns.tolist()}
    return result
