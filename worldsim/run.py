"""A run directory holds everything one run made: config.json, report.json, episodes/,
latents/, checkpoints/, logs/ and pictures. It belongs to one game; reopening it for another
game is refused."""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worldsim.config import Config
from worldsim.io import read_json, write_json

if TYPE_CHECKING:
    import torch


class RunDirError(RuntimeError):
    """A run directory that does not fit the request."""


class RunDir:
    """The one place that knows where a run keeps each thing: every other module asks it for a
    path instead of spelling one.

        config.json, report.json      what the run was asked to do, and what each stage did
        episodes/ep_NNNNNN.npz        recorded real play
        latents/ep_NNNNNN.npz         each episode encoded by V
        checkpoints/                  vae.pt, mdnrnn.pt, controller.pt, NAME.pt per GameGAN
        controller/                   the CMA-ES log and fitness plot of C in V+M's dream
        controller_NAME/              the same for C in GameGAN NAME's dream (and its controller.pt)
        controller_roundN/            the controller an iterate round replaced
        logs/                         TensorBoard event files and JSONL scalars
        *.png                         pictures: vae_reconstructions, NAME_samples, evaluation[_NAME]
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.episodes = self.root / "episodes"
        self.latents = self.root / "latents"
        self.checkpoints = self.root / "checkpoints"
        self.logs = self.root / "logs"
        self.config_path = self.root / "config.json"
        self.report_path = self.root / "report.json"
        self.vae_reconstructions = self.root / "vae_reconstructions.png"

    @property
    def vae_checkpoint(self) -> Path:
        return self.checkpoints / "vae.pt"

    @property
    def mdnrnn_checkpoint(self) -> Path:
        return self.checkpoints / "mdnrnn.pt"

    @property
    def controller_checkpoint(self) -> Path:
        return self.checkpoints / "controller.pt"

    def gamegan_checkpoint(self, name: str = "gamegan") -> Path:
        """checkpoints/NAME.pt (gamegan.name: a run can hold several GameGANs, e.g. without memory)."""
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"gamegan.name '{name}' must be a plain file name")
        return self.checkpoints / f"{name}.pt"

    def gamegan_samples(self, name: str = "gamegan") -> Path:
        return self.root / f"{name}_samples.png"

    def controller_files(self, model: str = "vm", gamegan_name: str = "gamegan") -> tuple[Path, Path]:
        """(folder of the CMA-ES log and fitness plot, controller checkpoint) of the controller
        trained in the dream of `model`: controller/ and checkpoints/controller.pt for V+M's,
        controller_NAME/ and controller_NAME/controller.pt for GameGAN NAME's."""
        if model == "vm":
            return self.root / "controller", self.controller_checkpoint
        if model != "gamegan":
            raise ValueError(f"unknown world model '{model}'; known: vm, gamegan")
        folder = self.root / f"controller_{gamegan_name}"
        return folder, folder / "controller.pt"

    def controller_round(self, round_: int) -> Path:
        """Where iterate round `round_` keeps the controller it replaced."""
        return self.root / f"controller_round{round_}"

    def evaluation_plot(self, model: str = "vm", gamegan_name: str = "gamegan") -> Path:
        """The real-vs-dream returns picture of the controller trained in `model`'s dream."""
        return self.root / ("evaluation.png" if model == "vm" else f"evaluation_{gamegan_name}.png")

    def exists(self) -> bool:
        return self.config_path.is_file()

    def load_config(self) -> Config:
        if not self.exists():
            raise RunDirError(f"{self.root}: not a worldsim run directory (no config.json)")
        return Config.from_dict(read_json(self.config_path))

    def open(self, cfg: Config) -> list[str]:
        """Create the run directory for `cfg`, or check that an existing one is for the same game
        and record `cfg` as the run's config. config.json is rewritten only when `cfg` differs
        from it; returns the fields that changed ("section.field: old -> new"), so the caller can
        say so. What each stage actually ran with stays in report.json (record_config)."""
        changed: list[str] = []
        if self.exists():
            stored = self.load_config()
            if stored.env != cfg.env:
                raise RunDirError(
                    f"{self.root} was created for env '{stored.env}', not '{cfg.env}'; use another --run-dir"
                )
            changed = config_changes(stored.to_dict(), cfg.to_dict())
            if not changed:
                return []
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.config_path, cfg.to_dict())
        return changed

    def report(self) -> dict[str, Any]:
        return read_json(self.report_path) if self.report_path.is_file() else {"stages": {}}

    def stage(self, name: str) -> dict[str, Any]:
        return self.report()["stages"].get(name, {})

    def stage_complete(self, name: str) -> bool:
        return self.stage(name).get("status") == "complete"

    def update_stage(self, name: str, **fields: Any) -> None:
        report = self.report()
        report.setdefault("stages", {}).setdefault(name, {}).update(fields)
        report["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        write_json(self.report_path, report)

    def reset_stage(self, name: str) -> None:
        report = self.report()
        report.setdefault("stages", {}).pop(name, None)
        write_json(self.report_path, report)


def config_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """The fields whose values differ between two config dicts, as "section.field: old -> new"."""
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return changes


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; an explicit 'cuda' without CUDA is an error."""
    import torch  # here: a run directory is read by processes that never touch torch (game workers)

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA device (use --device auto or cpu)")
    return torch.device(name)
