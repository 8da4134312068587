"""Shared fixtures: tiny real rollouts recorded once per test session."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    # Test processes share the machine's cores (pyproject: -n 2): torch in each, and in the
    # scripts and game processes they start, takes its share of them, so that the processes'
    # threads do not outnumber the cores and wait on each other.
    share = (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, share)))

import envs  # noqa: E402
from worldsim.config import make_config, resolve  # noqa: E402
from agents.collect import collect  # noqa: E402
from worldsim.run import RunDir  # noqa: E402


SLOW_FIXTURES = {"smoke_runs", "gamegan_run"}
"""Fixtures that run whole pipelines from the command line: every test using one is `slow`."""

SHARED_FIXTURES = {"smoke_runs": "smoke_runs", "cluster": "smoke_runs", "gamegan_run": "gamegan_run"}
"""Costly fixtures built once per test process, and the group that keeps their tests in one
process when pytest-xdist spreads the suite (--dist loadgroup): the smoke pipelines are built
once, not in every process, and one Ray cluster runs at a time. A test on several takes the
first one's group."""


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's, which reads the groups
def pytest_collection_modifyitems(items):
    """Mark the end-to-end tests `slow` (those on the pipeline fixtures, besides the ones marked by
    hand: scripts launched as a user runs them, torch.compile, torchrun), so that
    `pytest -m "not slow"` is a quick loop while editing; CI runs everything. Group the tests on a
    shared costly fixture for pytest-xdist (SHARED_FIXTURES)."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if SLOW_FIXTURES & used:
            item.add_marker(pytest.mark.slow)
        group = next((group for name, group in SHARED_FIXTURES.items() if name in used), None)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


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
    cfg = resolve(make_config("Doom/TakeCover", "smoke"), envs.info("Doom"))
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


def _script_path(script: str) -> str:
    return os.path.join(ROOT, script if "/" in script else os.path.join("scripts", script))


def run_script(script: str, *args: str, subprocess: bool = False):
    """Run one of scripts/ (or, given as "benchmarks/NAME.py", a benchmark) as `python SCRIPT ARGS`
    would: its __main__ block with that argv, its exit code, stdout and stderr (a crash's traceback
    on stderr, code 1), returned as a CompletedProcess. In this process unless `subprocess`: a new
    Python would spend a second or two importing torch before the script does anything, and the
    suite runs scripts some thirty times."""
    import contextlib
    import io
    import runpy
    import signal
    import subprocess as sp
    import sys
    import traceback

    command = [sys.executable, _script_path(script), *args]
    if subprocess:
        env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
        return sp.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    out, err = io.StringIO(), io.StringIO()
    argv, cwd, sigterm = sys.argv, os.getcwd(), signal.getsignal(signal.SIGTERM)
    sys.argv = command[1:]
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(command[1], run_name="__main__")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if not isinstance(exc.code, (int, type(None))):
                    print(exc.code, file=sys.stderr)
            except Exception:  # what a crashing script prints, and its exit code
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = argv
        os.chdir(cwd)
        signal.signal(signal.SIGTERM, sigterm)  # run_main turns SIGTERM into Ctrl-C
    return sp.CompletedProcess(command, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory) -> dict[str, RunDir]:
    """The smoke pipeline, run from the command line (a new process, exactly as a user starts it)
    once per game; {env: RunDir}."""
    runs = {}
    for env in ("Doom", "CarRacing", "Atari/Pong"):
        root = tmp_path_factory.mktemp(env.replace("/", "_"))
        proc = run_script("train_world_model.py", "--env", env, "--preset", "smoke", "--run-dir", str(root),
                          "--no-progress", subprocess=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[env] = RunDir(root)
    return runs


def assert_dream_dropout(make, rows: int, restarted: int) -> tuple:
    """What dream dropout (rate 0.25) must give in either dream: make(num_envs, temperature, seed)
    builds the dream. Each episode draws its own mask at reset (values 0 or 1 / 0.75), keeps it
    through a step, a restart redraws only the restarted rows' masks, and the mask reaches M (the
    same start and noise under another mask give another h and another observation). Returns the
    dream (its first `restarted` rows restarted) and the masks drawn first."""
    import torch

    dream = make(rows, 1.0, 0)
    dream.reset()
    first = dream.episodes.drop.clone()
    torch.testing.assert_close(first.unique(), torch.tensor([0.0, 1 / 0.75]))
    assert not torch.equal(first[0], first[1]), "episodes differ"
    dream.step(torch.ones(rows, dtype=torch.long))
    assert torch.equal(dream.episodes.drop, first), "a mask lasts the episode"
    restart = torch.zeros(rows, dtype=torch.bool)
    restart[:restarted] = True
    dream.reset(restart)
    drop = dream.episodes.drop
    assert not torch.equal(drop[:restarted], first[:restarted]) and torch.equal(drop[restarted:], first[restarted:])
    a, b = make(1, 0.0, 1), make(1, 0.0, 1)
    a.reset(), b.reset()
    b.episodes.drop = torch.ones_like(b.episodes.drop)
    obs_a, obs_b = a.step(torch.ones(1, dtype=torch.long))[0], b.step(torch.ones(1, dtype=torch.long))[0]
    assert not torch.allclose(obs_a, obs_b) and not torch.allclose(a.episodes.h, b.episodes.h), "the mask reaches M"
    return dream, first
