"""One episode = one compressed .npz: frames (T+1, 64, 64, 3) uint8 (the first observation
and every next one), actions (T, ...), rewards (T,), terminated (T,), truncated (T,).
Files are written atomically; a damaged file is reported with its path, never half-read."""
from __future__ import annotations

import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TypeVar

import numpy as np

from worldsim.io import atomic_write_with

T = TypeVar("T")

EPISODE_KEYS = ("frames", "actions", "rewards", "terminated", "truncated")
_NAME = re.compile(r"^ep_(\d{6})\.npz$")


class EpisodeError(RuntimeError):
    """An episode file that is truncated, corrupt or inconsistent."""


@dataclass
class Episode:
    frames: np.ndarray  # (T+1, 64, 64, 3) uint8
    actions: np.ndarray  # (T,) int64 or (T, action_dim) float32
    rewards: np.ndarray  # (T,) float32
    terminated: np.ndarray  # (T,) bool
    truncated: np.ndarray  # (T,) bool

    def __len__(self) -> int:
        return len(self.actions)


def episode_path(folder: str | Path, index: int) -> Path:
    return Path(folder) / f"ep_{index:06d}.npz"


def episode_index(path: str | Path) -> int | None:
    match = _NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def list_episodes(folder: str | Path) -> list[Path]:
    """Episode files in index order (temporaries and other files are ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if episode_index(p) is not None)


def save_episode(path: str | Path, episode: Episode) -> None:
    _check_consistent(path, episode)
    arrays = {k: getattr(episode, k) for k in EPISODE_KEYS}
    atomic_write_with(path, lambda f: np.savez_compressed(f, **arrays))


def load_episode(path: str | Path, keys: tuple[str, ...] = EPISODE_KEYS) -> Episode:
    """Read an episode; raises EpisodeError naming the file if it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in EPISODE_KEYS if k not in data.files]
            if missing:
                raise EpisodeError(f"{path}: not an episode file (missing {', '.join(missing)})")
            arrays = {k: data[k] if k in keys else None for k in EPISODE_KEYS}
    except EpisodeError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise EpisodeError(f"{path}: corrupt or truncated episode file ({exc})") from None
    episode = Episode(**arrays)
    _check_consistent(path, episode)
    return episode


def load_frames(path: str | Path) -> np.ndarray:
    return load_episode(path, keys=("frames", "actions")).frames


def load_first_frame(path: str | Path) -> np.ndarray:
    """An episode's first frame (64, 64, 3) uint8, decompressing only that frame's bytes (the
    frames are stored first-frame-first), so a bank of thousands of starting frames loads in
    seconds. Raises EpisodeError naming the file if it is damaged."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("frames.npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
            if dtype != np.uint8 or len(shape) != 4 or shape[-1] != 3 or shape[0] < 1 or fortran_order:
                raise EpisodeError(f"{path}: frames must be uint8 (T+1, H, W, 3), got {dtype} {shape}")
            size = int(np.prod(shape[1:]))
            data = f.read(size)
    except EpisodeError:
        raise
    except KeyError:
        raise EpisodeError(f"{path}: not an episode file (missing frames)") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EpisodeError(f"{path}: corrupt or truncated episode file ({exc})") from None
    if len(data) != size:
        raise EpisodeError(f"{path}: corrupt or truncated episode file (first frame cut short)")
    return np.frombuffer(data, dtype=np.uint8).reshape(shape[1:]).copy()


def load_first_frames(paths: list[Path]) -> np.ndarray:
    """The first frame of every readable episode: (episodes, 64, 64, 3) uint8; damaged files are
    skipped with a warning. Raises EpisodeError when none is readable."""
    frames = []
    for path in paths:
        try:
            frames.append(load_first_frame(path))
        except EpisodeError as exc:
            warnings.warn(f"skipping {exc}", stacklevel=2)
    if not frames:
        raise EpisodeError(f"no readable episode among {len(paths)} file(s)")
    return np.stack(frames)


def iter_valid_episodes(paths: list[Path], keys: tuple[str, ...] = EPISODE_KEYS):
    """Yield (path, episode) for every readable file; damaged ones are skipped with a warning."""
    for path in paths:
        try:
            yield path, load_episode(path, keys)
        except EpisodeError as exc:
            warnings.warn(f"skipping {exc}", stacklevel=2)


def _check_consistent(path: str | Path, ep: Episode) -> None:
    if ep.actions is None:
        return
    t = len(ep.actions)
    if ep.frames is not None:
        if ep.frames.dtype != np.uint8 or ep.frames.ndim != 4 or ep.frames.shape[-1] != 3:
            raise EpisodeError(f"{path}: frames must be uint8 (T+1, H, W, 3), got {ep.frames.dtype} {ep.frames.shape}")
        if len(ep.frames) != t + 1:
            raise EpisodeError(f"{path}: {len(ep.frames)} frames for {t} actions (expected {t + 1})")
    for key in ("rewards", "terminated", "truncated"):
        value = getattr(ep, key)
        if value is not None and len(value) != t:
            raise EpisodeError(f"{path}: {key} has {len(value)} entries for {t} actions")


def split_episodes(episodes: Sequence[T], val_fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Hold out whole episodes (never frames of a training episode) for validation: the one rule
    V, M and GameGAN share. `episodes` are in index order (episode files, or their encodings);
    the same seed and fraction hold out the same positions, so V and M, given the same
    val_fraction, validate on the same episodes. -> (train, val), each in index order."""
    if len(episodes) < 2:
        raise ValueError(f"need at least 2 episodes to hold one out, found {len(episodes)}")
    order = np.random.default_rng(seed).permutation(len(episodes))
    n_val = min(len(episodes) - 1, max(1, round(len(episodes) * val_fraction)))
    return [episodes[i] for i in sorted(order[n_val:])], [episodes[i] for i in sorted(order[:n_val])]
