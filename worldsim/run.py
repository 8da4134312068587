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
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.episodes = self.root / "episodes"
        self.latents = self.root / "latents"
        self.checkpoints = self.root / "checkpoints"
        self.logs = self.root / "logs"
        self.config_path = self.root / "config.json"
        self.report_path = self.root / "report.json"

    @property
    def vae_checkpoint(self) -> Path:
        return self.checkpoints / "vae.pt"

    @property
    def mdnrnn_checkpoint(self) -> Path:
        return self.checkpoints / "mdnrnn.pt"

    @property
    def controller_checkpoint(self) -> Path:
        return self.checkpoints / "controller.pt"

    def exists(self) -> bool:
        return self.config_path.is_file()

    def load_config(self) -> Config:
        if not self.exists():
            raise RunDirError(f"{self.root}: not a worldsim run directory (no config.json)")
        return Config.from_dict(read_json(self.config_path))

    def open(self, cfg: Config) -> Config:
        """Create the run directory for `cfg`, or check that an existing one is for the same game.
        Returns the config to use (the stored one is kept unless `cfg` differs)."""
        if self.exists():
            stored = self.load_config()
            if stored.env != cfg.env:
                raise RunDirError(
                    f"{self.root} was created for env '{stored.env}', not '{cfg.env}'; use another --run-dir"
                )
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(self.config_path, cfg.to_dict())
        return cfg

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


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; an explicit 'cuda' without CUDA is an error."""
    import torch  # here: a run directory is read by processes that never touch torch (game workers)

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but torch sees no CUDA device (use --device auto or cpu)")
    return torch.device(name)
