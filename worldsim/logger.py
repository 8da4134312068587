"""Scalar logging to TensorBoard event files and a plain JSONL file side by side, so curves can
be read in TensorBoard or with three lines of Python."""
from __future__ import annotations

import json
import time
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter


class ScalarLogger:
    def __init__(self, folder: str | Path, stage: str):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stage = stage
        self._tb = SummaryWriter(log_dir=str(self.folder / "tensorboard"))
        self._jsonl = open(self.folder / f"{stage}.jsonl", "a")

    def log(self, step: int, **scalars: float) -> None:
        for name, value in scalars.items():
            self._tb.add_scalar(f"{self.stage}/{name}", value, step)
        record = {"step": step, "time": time.time(), **{k: float(v) for k, v in scalars.items()}}
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()

    def close(self) -> None:
        self._tb.close()
        self._jsonl.close()

    def __enter__(self) -> "ScalarLogger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_scalars(path: str | Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
