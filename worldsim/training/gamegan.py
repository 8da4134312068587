"""Train GameGAN on clips of the recorded episodes: first a reconstruction-only warm start
(gamegan.recon_only_steps: every step teacher-forced, or with gamegan.recon_only_open_loop its
later steps reading the frames drawn; noise 0, no discriminator), then one
discriminator step per generator step, hinge losses, Adam (0, 0.9), teacher forcing decaying to
its floor (gamegan.warm_up_floor); mixed precision on CUDA and
DistributedDataParallel under torchrun (only rank 0 writes files). Resumable from
checkpoints/NAME.pt (gamegan.name); writes NAME_samples.png (real vs generated clip, error, components
and masks) at every evaluation."""
from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

import envs
from worldsim.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from worldsim.config import Config, GameGANConfig
from worldsim.data.clips import fixed_clips, iter_clip_batches
from worldsim.data.episodes import list_episodes, split_episodes
from worldsim.data.frames import BACKGROUND_FRAMES, background_frame
from worldsim.media import image_grid, save_png
from worldsim.models.gamegan.discriminators import Discriminators
from worldsim.models.gamegan.losses import (discriminator_loss, generator_loss, reconstruction_weights,
                                           rollout_reconstruction, wrong_actions)
from worldsim.models.gamegan.model import GameGAN, as_frames, stored_config, submodule_state
from worldsim.models.vae import tensor_to_frames
from worldsim.run import RunDir
from worldsim.training.loop import Schedule, train

ARCHITECTURE_FIELDS = ("channels", "d_channels", "hidden", "noise_dim", "action_embed", "memory", "memory_height",
                       "memory_width", "memory_dim", "renderer", "components", "type_dim", "attribute_dim",
                       "map_size", "temporal_scales", "output", "encoder_norm", "kernel_temperature",
                       "spectral_norm", "skip", "motion_kernels", "motion_radius", "motion_local",
                       "motion_bounce", "background_gain", "spatial")
"""GameGANConfig fields that shape the networks: a checkpoint can only be resumed with the same values.
(motion_sharp, keep_sharp and motion_onward are not: a soft-trained skip may be resumed sharp, or
with "stay" kept moving, a fine-tune.)"""


VAL_METRICS = ("one_step_mse", "open_loop_mse", "copy_last_frame_mse")


def gamegan_checkpoint(run: RunDir, name: str = "gamegan") -> Path:
    """checkpoints/NAME.pt (gamegan.name: a run can hold several GameGANs, e.g. without memory)."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"gamegan.name '{name}' must be a plain file name")
    return run.checkpoints / f"{name}.pt"


def warm_up_at(step: int, start: int, decay_steps: int, floor: int = 0) -> int:
    """Teacher-forced steps at (adversarial) training step `step`: `start`, decayed linearly to
    `floor` at `decay_steps`, never below it."""
    if decay_steps <= 0:
        return max(floor, start)
    return max(floor, math.ceil(start * (1 - step / decay_steps)))


def recon_only_warm_up(step: int, gc) -> int:
    """Teacher-forced steps at warm-start step `step`: every step (clip_len), or, with
    gamegan.recon_only_open_loop, clip_len decayed to warm_up_floor over the warm start's first half."""
    if not gc.recon_only_open_loop:
        return gc.clip_len
    return warm_up_at(step, gc.clip_len, gc.recon_only_steps // 2, min(gc.warm_up_floor, gc.clip_len))


def parse_flip_pairs(text: str, game: envs.GameInfo) -> list[tuple[int, int]]:
    """'auto' (the game's own opposite actions, game.opposite_actions), 'none' / '' or
    'i:j,k:l' -> [(i, j), ...]."""
    text = text.strip().lower()
    if text == "auto":
        return [tuple(pair) for pair in game.opposite_actions]
    if text in ("", "none"):
        return []
    try:
        pairs = [tuple(int(i) for i in pair.split(":")) for pair in text.split(",")]
    except ValueError:
        raise ValueError(f"gamegan.flip_pairs '{text}' is not 'auto', 'none' or 'i:j,k:l'") from None
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"gamegan.flip_pairs '{text}' is not 'auto', 'none' or 'i:j,k:l'")
    return pairs


class GameGANTrainer:
    """Generator, discriminators, their optimizers and the mixed-precision scaler; `train_step`
    does one D step and one G step on a batch of clips."""

    def __init__(self, gc: GameGANConfig, action_dim: int, discrete: bool, flip_pairs: list[tuple[int, int]],
                 device: torch.device, distributed: bool = False):
        self.gc, self.discrete, self.device = gc, discrete, device
        for share in ("end_bias", "start_bias"):
            if not 0.0 <= getattr(gc, share) <= 1.0:
                raise ValueError(f"gamegan.{share} is a share of the training clips, in [0, 1], not {getattr(gc, share)}")
        self.generator = GameGAN(gc, action_dim, discrete, flip_pairs).to(device)
        if gc.d_background_gain and not gc.background_gain:
            raise ValueError("gamegan.d_background_gain needs gamegan.background_gain > 0: the discriminators "
                             "subtract the frame encoder's background")
        self.discriminators = Discriminators(action_dim, gc.noise_dim, gc.d_channels, gc.temporal_scales,
                                             gc.spectral_norm, gc.d_background_gain,
                                             patches=gc.patch_weight > 0, patch_cells=gc.patch_cells).to(device)
        betas = (gc.beta1, gc.beta2)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=gc.lr, betas=betas)
        self.d_optimizer = torch.optim.Adam(self.discriminators.parameters(), lr=gc.lr, betas=betas)
        if gc.amp_dtype not in ("bf16", "fp16"):
            raise ValueError(f"gamegan.amp_dtype must be bf16 or fp16, not '{gc.amp_dtype}'")
        self.amp = gc.mixed_precision and device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if gc.amp_dtype == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp and self.amp_dtype == torch.float16)
        self.g, self.d = self.generator, self.discriminators
        if distributed:
            ids = [device.index] if device.type == "cuda" else None
            self.g = DistributedDataParallel(self.generator, device_ids=ids)
            self.d = DistributedDataParallel(self.discriminators, device_ids=ids)
        self.step = 0

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def train_step(self, frames, actions, warm_up: int) -> dict[str, float]:
        """frames (batch, T+1, 64, 64, 3) uint8 and actions (batch, T[, action_dim]) of real clips
        -> the losses' parts (floats). One rollout serves both steps: D learns on it detached,
        then G's loss is taken through the updated discriminators."""
        real = as_frames(torch.as_tensor(frames, device=self.device))  # (batch, T+1, 3, 64, 64)
        actions = torch.as_tensor(actions, device=self.device)
        self.generator.train()
        self.discriminators.train()
        with self.autocast():
            out = self.g(real, actions, warm_up, cycle=True)
        d_loss, d_parts = self.discriminator_step(real, actions, out)
        g_loss, g_parts = self._generator_step(real, actions, out)
        self.scaler.update()
        self.step += 1
        return {"d_loss": d_loss, "g_loss": g_loss, **d_parts, **g_parts}

    def reconstruction_step(self, frames, actions, warm: int | None = None) -> dict[str, float]:
        """The warm start's step: the generator alone on reconstruction with the noise at 0, the
        first `warm` steps (None: every step) reading the real x_t (teacher-forced), the others
        the frame the model drew, so the output must follow the input."""
        real = as_frames(torch.as_tensor(frames, device=self.device))
        actions = torch.as_tensor(actions, device=self.device)
        self.generator.train()
        noise = torch.zeros(*actions.shape[:2], self.gc.noise_dim, device=self.device)
        with self.autocast():
            out = self.g(real, actions, actions.shape[1] if warm is None else warm, noise)
            parts = rollout_reconstruction(out, real, self.gc)
            weights = reconstruction_weights(self.gc)
            loss = sum(weights[k] * v for k, v in parts.items())
        self._learning_rate(self.gc.recon_only_lr or self.gc.lr)
        self.g_optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.g_optimizer)
        self.scaler.update()
        self.step += 1
        return {"g_loss": loss.item(), **{k: v.item() for k, v in parts.items()}}

    def _learning_rate(self, lr: float) -> None:
        for group in self.g_optimizer.param_groups:
            group["lr"] = lr

    def discriminator_step(self, real, actions, out) -> tuple[float, dict[str, float]]:
        """One D step on real clips `real` (batch, T+1, 3, 64, 64) in [0, 1] with their actions and
        a rollout `out` of them ('frames', 'inputs', 'noise'; detached here) -> D's loss and parts.
        (benchmarks/gamegan_discriminators.py trains the discriminators alone with it.)"""
        gc = self.gc
        encoded = self.generator.encode_actions(actions)
        wrong = self.generator.encode_actions(wrong_actions(actions, self.generator.action_dim, self.discrete))
        self.discriminators.requires_grad_(True)
        with self.autocast():
            d_out = self.d(real, out["frames"].detach(), out["inputs"].detach(), encoded, wrong,
                           r1=gc.r1_gamma > 0 and self.step % gc.r1_every == 0)
            loss, parts = discriminator_loss(d_out, actions, out["noise"], gc, self.discrete)
        self.d_optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.d_optimizer)
        return loss.item(), parts

    def _generator_step(self, real, actions, out) -> tuple[float, dict[str, float]]:
        self._learning_rate(self.gc.lr)
        # G's loss goes through the discriminators themselves, not their DDP wrapper: their
        # gradients here are not wanted, so they are frozen and nothing is all-reduced for them.
        self.discriminators.requires_grad_(False)
        with self.autocast():
            loss, parts = generator_loss(self.discriminators, real, actions, self.generator.encode_actions(actions),
                                         out, self.gc, self.discrete)
        self.g_optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.g_optimizer)
        return loss.item(), parts

    def set_background(self, frame: torch.Tensor) -> None:
        """frame (1, 3, 64, 64) in [0, 1]: the backdrop the frame encoder (and, with
        d_background_gain, the discriminators) subtract (gamegan.background_gain > 0)."""
        self.generator.dynamics.set_background(frame)
        self.share_background()

    def share_background(self) -> None:
        """The discriminators read the foreground against the frame encoder's background, the one
        saved with the generator (d_background_gain > 0; otherwise nothing to share)."""
        if self.gc.d_background_gain:
            self.discriminators.set_background(self.generator.dynamics.background)

    def state_dict(self) -> dict:
        return {"step": self.step, "g_optimizer": self.g_optimizer.state_dict(),
                "d_optimizer": self.d_optimizer.state_dict(), "scaler": self.scaler.state_dict()}

    def model_dict(self) -> dict[str, torch.Tensor]:
        return {**{f"generator.{k}": v for k, v in self.generator.state_dict().items()},
                **{f"discriminators.{k}": v for k, v in self.discriminators.state_dict().items()}}

    def load(self, model: dict[str, torch.Tensor], state: dict) -> None:
        self.generator.load_state_dict(submodule_state(model, "generator."))
        missing, unexpected = self.discriminators.load_state_dict(submodule_state(model, "discriminators."),
                                                                  strict=False)
        new_head = bool(missing) and all(k.startswith("frame.patch_head.") for k in missing)
        if unexpected or (missing and not new_head):
            raise RuntimeError(f"the checkpoint's discriminators do not fit gamegan's settings: missing "
                               f"{missing}, unexpected {unexpected} (a patch head can be added on resume, "
                               f"not taken away: keep gamegan.patch_weight > 0)")
        self.share_background()
        self.g_optimizer.load_state_dict(state["g_optimizer"])
        if not new_head:  # a fresh patch head: the discriminators' optimizer starts afresh with it
            self.d_optimizer.load_state_dict(state["d_optimizer"])
        for group in [*self.g_optimizer.param_groups, *self.d_optimizer.param_groups]:
            group["lr"] = self.gc.lr  # a learning rate overridden on resume takes effect
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = state["step"]


@torch.no_grad()
def evaluate_gamegan(model: GameGAN, frames: np.ndarray, actions: np.ndarray, device, batch: int = 16) -> dict:
    """Held-out pixel MSE with the noise at its mean (z = 0): one-step (every step reads the real
    x_t) and open-loop (only x_0 is real), and copying x_t as x_{t+1} for reference."""
    model.eval()
    sums = dict.fromkeys(VAL_METRICS, 0.0)
    for start in range(0, len(frames), batch):
        real = as_frames(torch.as_tensor(frames[start : start + batch], device=device))
        a = torch.as_tensor(actions[start : start + batch], device=device)
        noise = torch.zeros(*a.shape[:2], model.config.noise_dim, device=device)
        target = real[:, 1:]
        for key, warm in (("one_step_mse", a.shape[1]), ("open_loop_mse", 1)):
            sums[key] += (model.rollout(real, a, warm, noise)["frames"] - target).pow(2).mean().item() * len(real)
        sums["copy_last_frame_mse"] += (real[:, :-1] - target).pow(2).mean().item() * len(real)
    return {k: v / len(frames) for k, v in sums.items()}


@torch.no_grad()
def sample_grid(model: GameGAN, frames: np.ndarray, actions: np.ndarray, warm_up: int, device,
                max_frames: int = 16) -> np.ndarray:
    """One held-out clip: real x_1..x_T, generated (teacher-forced frames framed in green), the
    absolute error, the copy skip's keep mask (with gamegan.skip), where the motion skip moves the
    frame read (white: a kernel, black: "stay"; with gamegan.motion_kernels), then each
    component's image and mask (specialized renderer)."""
    model.eval()
    real = as_frames(torch.as_tensor(frames[:1], device=device))
    a = torch.as_tensor(actions[:1], device=device)
    out = model.rollout(real, a, warm_up, torch.zeros(1, a.shape[1], model.config.noise_dim, device=device))
    n = min(max_frames, a.shape[1])
    generated = tensor_to_frames(out["frames"][0, :n])
    forced = min(max(1, warm_up), n)  # x_0 is always real
    generated[:forced, [0, 1, -2, -1], :] = (0, 200, 0)
    generated[:forced, :, [0, 1, -2, -1]] = (0, 200, 0)
    target = real[0, 1 : n + 1]
    rows = [tensor_to_frames(target), generated, tensor_to_frames((out["frames"][0, :n] - target).abs())]
    if "keep" in out:  # the copy skip: white where the next frame keeps the frame read
        rows.append(tensor_to_frames(out["keep"][0, :n].expand(-1, 3, -1, -1)))
    if "motion" in out:
        rows.append(tensor_to_frames((1 - out["motion"][0, :n, :1]).expand(-1, 3, -1, -1)))
    if "components" in out:
        for k in range(out["components"].shape[2]):
            rows.append(tensor_to_frames(out["components"][0, :n, k]))
            rows.append(tensor_to_frames(out["masks"][0, :n, k].expand(-1, 3, -1, -1)))
    return image_grid(rows, scale=2)


def _distributed(device: torch.device) -> tuple[int, int, torch.device, bool]:
    """(rank, world size, this process's device, whether we started the process group)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device, False
    started = not dist.is_initialized()
    if started:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return dist.get_rank(), world, device, started


def _check_architecture(path: Path, meta: dict, gc: GameGANConfig, flip_pairs: list) -> None:
    stored = {**stored_config(meta), "flip_pairs": [list(p) for p in meta["flip_pairs"]]}
    wanted = {**dataclasses.asdict(gc), "flip_pairs": [list(p) for p in flip_pairs]}
    bad = [f"gamegan.{k}={stored[k]!r}" for k in (*ARCHITECTURE_FIELDS, "flip_pairs") if stored[k] != wanted[k]]
    if bad:
        raise CheckpointError(
            f"{path}: trained with {', '.join(bad)}; resume with those values or use another --run-dir")


class GameGANTraining:
    """GameGAN as a worldsim.training.loop trainee: one step is one discriminator and one generator
    step on a batch of clips (each process its own share of the training episodes under
    torchrun); held-out pixel errors, the sample grid and the checkpoint come every
    gamegan.eval_every steps, with the training scalars averaged since the last time."""

    label, finite, shown = "GameGAN", ("d_loss", "g_loss"), ("d_loss", "g_loss", "recon")

    def __init__(self, run: RunDir, cfg: Config, device: torch.device, rank: int, world: int):
        gc = self.gc = cfg.gamegan
        self.run, self.cfg, self.device, self.rank, self.world = run, cfg, device, rank, world
        self.log_name, self.checkpoint = gc.name, run.gamegan_checkpoint(gc.name)
        torch.manual_seed(cfg.seed + rank)
        game = envs.info(cfg.env)
        action_dim, discrete = game.num_actions, game.discrete
        self.flip_pairs = parse_flip_pairs(gc.flip_pairs, game)
        self.train_paths, self.val_paths = split_episodes(list_episodes(run.episodes), gc.val_fraction, cfg.seed)
        if len(self.train_paths) < world:
            raise ValueError(f"{len(self.train_paths)} training episodes cannot be shared by {world} processes")
        self.val_frames, self.val_actions = fixed_clips(self.val_paths, gc.clip_len, gc.val_clips)
        self.trainer = GameGANTrainer(gc, action_dim, discrete, self.flip_pairs, device, distributed=world > 1)
        if gc.background_gain and not self.checkpoint.is_file():  # a resumed checkpoint brings its own
            frame = background_frame(self.train_paths, BACKGROUND_FRAMES, np.random.default_rng(cfg.seed))
            self.trainer.set_background(as_frames(frame[None]).to(device))
        self.meta = {"gamegan": dataclasses.asdict(gc), "action_dim": action_dim, "discrete_actions": discrete,
                     "flip_pairs": [list(p) for p in self.flip_pairs], "config": cfg.to_dict()}
        self.schedule = Schedule(gc.steps, gc.eval_every, gc.log_every)
        self.batches = None
        self.start_step, self.train_seconds, self.window = 0, 0.0, {}

    def resume(self) -> tuple[int, dict] | None:
        if not self.checkpoint.is_file():
            return None
        ckpt = load_checkpoint(self.checkpoint, kind="gamegan", env=self.cfg.env)
        _check_architecture(self.checkpoint, ckpt["meta"], self.gc, self.flip_pairs)
        self.trainer.load(ckpt["model"], ckpt["state"])
        return self.trainer.step, ckpt["meta"]["history"]

    def untrained(self) -> dict:
        return evaluate_gamegan(self.trainer.generator, self.val_frames, self.val_actions, self.device)

    def step(self, step: int) -> dict[str, float]:
        gc = self.gc
        if self.batches is None:
            # A resumed run draws new clips from a stream seeded by its step: same distribution, not the same order.
            self.batches = iter_clip_batches(self.train_paths[self.rank::self.world], gc.batch_size, gc.clip_len,
                                             gc.buffer_episodes, np.random.default_rng([self.cfg.seed, self.rank, step]),
                                             gc.end_bias, gc.start_bias)
            self.start_step = step
        frames, actions = next(self.batches)
        t0 = time.perf_counter()
        if step < gc.recon_only_steps:
            self.warm = recon_only_warm_up(step, gc)
            parts = self.trainer.reconstruction_step(frames, actions, self.warm)
        else:
            self.warm = warm_up_at(step - gc.recon_only_steps, gc.warm_up, gc.warm_up_decay_steps, gc.warm_up_floor)
            parts = self.trainer.train_step(frames, actions, self.warm)
        self.train_seconds += time.perf_counter() - t0
        for k, v in parts.items():  # sums and counts: warm-start steps have no discriminator scalars
            total, count = self.window.get(k, (0.0, 0))
            self.window[k] = (total + v, count + 1)
        return {"warm_up": self.warm, **parts}

    def evaluate(self, step: int, history: dict) -> dict[str, float]:
        gc = self.gc
        speed = (step - self.start_step) / self.train_seconds
        history["latest"] = {
            "step": step, **evaluate_gamegan(self.trainer.generator, self.val_frames, self.val_actions, self.device),
            **{k: total / count for k, (total, count) in self.window.items()}, "steps_per_second": speed,
            "frames_per_second": speed * gc.batch_size * gc.clip_len * self.world,
        }
        self.window = {}
        save_png(self.run.gamegan_samples(gc.name),
                 sample_grid(self.trainer.generator, self.val_frames, self.val_actions, self.warm, self.device))
        return {f"val_{k}": history["latest"][k] for k in VAL_METRICS}

    def save(self, step: int, history: dict) -> None:
        save_checkpoint(self.checkpoint, kind="gamegan", env=self.cfg.env, model=self.trainer.model_dict(),
                        meta={**self.meta, "history": history}, state=self.trainer.state_dict())


def train_gamegan(run: RunDir, cfg: Config, device: torch.device, progress: bool = True) -> dict:
    """The pipeline's gamegan stage (under torchrun: every process's share of it)."""
    rank, world, device, started = _distributed(device)
    main = rank == 0
    trainee = GameGANTraining(run, cfg, device, rank, world)
    history = train(trainee, trainee.schedule, run.logs, progress, main=main, sync=dist.barrier if world > 1 else None)
    gc = cfg.gamegan
    result = _report(history, len(trainee.train_paths), len(trainee.val_paths), len(trainee.val_frames), gc.name) \
        if main else None
    if world > 1:
        shared = [result]
        dist.broadcast_object_list(shared, src=0)
        result = shared[0]
        if started:
            dist.destroy_process_group()
    return result


def _report(history: dict, train_episodes: int, val_episodes: int, val_clips: int, name: str) -> dict:
    latest, untrained = history.get("latest", {}), history.get("untrained", {})
    return {
        "d_loss": latest.get("d_loss"),
        "g_loss": latest.get("g_loss"),
        "recon": latest.get("recon"),
        "val_one_step_mse": latest.get("one_step_mse"),
        "val_open_loop_mse": latest.get("open_loop_mse"),
        "val_copy_last_frame_mse": latest.get("copy_last_frame_mse"),
        "val_one_step_mse_untrained": untrained.get("one_step_mse"),
        "val_open_loop_mse_untrained": untrained.get("open_loop_mse"),
        "steps_per_second": latest.get("steps_per_second"),
        "frames_per_second": latest.get("frames_per_second"),
        "train_episodes": train_episodes,
        "val_episodes": val_episodes,
        "val_clips": val_clips,
        "samples": f"{name}_samples.png",
        "checkpoint": f"checkpoints/{name}.pt",
    }
