"""Shared fixtures: tiny real rollouts recorded once per test session."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

from worldsim.config import make_config, resolve  # noqa: E402
from worldsim.data.collect import collect  # noqa: E402
from worldsim.run import RunDir  # noqa: E402


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny convolutions on a shared 2-core machine run many times faster on one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def doom_run(tmp_path_factory) -> tuple[RunDir, object]:
    """A smoke-sized Doom run directory with 8 short real episodes (no models yet)."""
    run = RunDir(tmp_path_factory.mktemp("doom_run"))
    cfg = resolve(make_config("Doom/TakeCover", "smoke"), "doom")
    cfg.collect.episodes, cfg.collect.max_steps = 8, 80
    run.open(cfg)
    collect(cfg.env, run.episodes, cfg.collect.episodes, workers=2, max_steps=cfg.collect.max_steps, progress=False)
    return run, cfg


@pytest.fixture(scope="session")
def trained_doom_run(doom_run, tmp_path_factory) -> tuple[RunDir, object, dict]:
    """doom_run's episodes with a briefly trained tiny V and the encoded latents; (run, cfg, V report)."""
    import copy

    import torch

    from worldsim.training.encode import encode_run
    from worldsim.training.vae import train_vae

    source, cfg = doom_run
    cfg = copy.deepcopy(cfg)
    cfg.vae.epochs, cfg.vae.channels, cfg.vae.z_dim, cfg.vae.lr, cfg.vae.batch_size = 3, 8, 16, 2e-3, 32
    run = RunDir(tmp_path_factory.mktemp("trained_doom_run"))
    run.open(cfg)
    run.episodes.symlink_to(source.episodes, target_is_directory=True)
    report = train_vae(run, cfg, torch.device("cpu"), progress=False)
    encode_run(run, cfg.env, torch.device("cpu"), progress=False)
    return run, cfg, report


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script: str, *args: str, timeout: float = 300):
    """Run one of scripts/ (or, given as "benchmarks/NAME.py", a benchmark) the way a user does;
    returns the CompletedProcess."""
    import subprocess
    import sys

    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    path = os.path.join(ROOT, script if "/" in script else os.path.join("scripts", script))
    return subprocess.run([sys.executable, path, *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory) -> dict[str, RunDir]:
    """The smoke pipeline, run from the command line once per game; {env: RunDir}."""
    runs = {}
    for env in ("Doom", "CarRacing", "Atari/Pong"):
        root = tmp_path_factory.mktemp(env.replace("/", "_"))
        proc = run_script("train_world_model.py", "--env", env, "--preset", "smoke", "--run-dir", str(root),
                          "--no-progress")
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[env] = RunDir(root)
    return runs
