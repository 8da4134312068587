"""The main entry point, as a user runs it: end to end, resumable, and clear about bad input."""
import os
import re
import shutil

import numpy as np
import pytest

import envs
from conftest import run_script
from worldsim.apps.pipeline import STAGES
from worldsim.checkpoint import load_checkpoint
from worldsim.config import Config, VAEConfig, make_config, resolve
from worldsim.data.latents import load_latents
from worldsim.io import read_json
from worldsim.run import RunDir


@pytest.mark.skipif("PYTEST_XDIST_WORKER" not in os.environ,
                    reason="groups exist only when the suite is spread over processes; this run has one (-n 0)")
def test_the_tests_on_the_smoke_pipelines_share_one_test_process(smoke_runs, request):
    """With the suite in two processes (pyproject's -n 2 --dist loadgroup), the tests on the smoke
    pipelines carry their group, so one process builds the pipelines once and runs them all
    (pytest 9.2 under pytest-xdist 3.8 silently dropped the group: pytest-xdist issue 1386). The
    skip is decided before the fixture, so a one-process run builds no pipelines for it."""
    assert request.node.nodeid.endswith("@smoke_runs"), request.node.nodeid


@pytest.mark.parametrize("env", ["Doom", "CarRacing", "Atari/Pong"])
def test_smoke_pipeline_runs_end_to_end(smoke_runs, env):
    run = smoke_runs[env]
    report = read_json(run.report_path)
    assert [s for s in STAGES if report["stages"][s]["status"] == "complete"] == list(STAGES)
    for stage in STAGES:
        assert report["stages"][stage]["seconds"] > 0 or stage == "iterate"  # the smoke preset iterates no rounds
    assert report["stages"]["mdnrnn"]["val_nll"] is not None
    cfg = Config.from_dict(read_json(run.config_path))
    assert cfg.preset == "smoke" and cfg.vae.z_dim > 0 and cfg.mdnrnn.hidden > 0
    vae = load_checkpoint(run.vae_checkpoint, kind="vae", env=cfg.env)
    assert vae["meta"]["z_dim"] == cfg.vae.z_dim
    m = load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn", env=cfg.env)
    assert m["meta"]["predict_reward"] == (env != "Doom")
    assert (run.vae_reconstructions).stat().st_size > 1000
    scores = report["stages"]["evaluate"]  # every episode's return, and their picture
    assert len(scores["real_returns"]) == len(scores["dream_returns"]) == cfg.evaluate.episodes
    assert sum(scores["real_returns"]) / cfg.evaluate.episodes == pytest.approx(scores["real_mean"], abs=1e-3)
    assert sum(scores["dream_returns"]) / cfg.evaluate.episodes == pytest.approx(scores["dream_mean"], abs=1e-3)
    assert scores["plot"] == "evaluation.png" and (run.root / "evaluation.png").stat().st_size > 1000
    assert list((run.logs / "tensorboard").iterdir()), "no TensorBoard event files"


def test_rerun_skips_completed_stages(smoke_runs):
    """Running a finished run again redoes nothing: every stage says so, the report is the same
    and no file the run made is written again."""
    run = smoke_runs["Doom"]
    written = {p: p.stat().st_mtime_ns for p in run.root.rglob("*") if p.is_file()}
    report = run.report_path.read_bytes()
    proc = run_script("train_world_model.py", "--run-dir", str(run.root), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("already complete") == len(STAGES)
    assert run.report_path.read_bytes() == report
    assert {p: p.stat().st_mtime_ns for p in written} == written
    assert {p for p in run.root.rglob("*") if p.is_file()} == set(written)


def test_an_override_on_resume_is_recorded_and_said_and_each_stage_keeps_the_config_it_ran_with(smoke_runs,
                                                                                                     tmp_path):
    run = RunDir(tmp_path / "run")
    shutil.copytree(smoke_runs["Doom"].root, run.root)
    ran_with = run.stage("mdnrnn")["config"]
    assert ran_with == read_json(run.config_path)
    proc = run_script("train_world_model.py", "--run-dir", str(run.root), "--controller.generations", "4",
                      "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "config.json updated (controller.generations: 3 -> 4)" in proc.stdout
    assert read_json(run.config_path)["controller"]["generations"] == 4
    assert run.stage("mdnrnn")["config"] == ran_with, "a completed stage keeps the config it ran with"


def test_run_dir_of_another_env_is_refused_in_one_line(smoke_runs):
    proc = run_script("train_world_model.py", "--env", "CarRacing", "--run-dir", str(smoke_runs["Doom"].root))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "created for env 'Doom/TakeCover', not 'CarRacing'" in proc.stderr


@pytest.mark.slow
def test_unknown_env_lists_known_ones_in_one_line(tmp_path):
    proc = run_script("train_world_model.py", "--env", "Quake", "--run-dir", str(tmp_path / "r"))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line and "Quake" in line and "CarRacing" in line and "Doom" in line and "Atari/" in line


@pytest.mark.slow
def test_overrides_are_recorded_in_the_run_config(tmp_path):
    proc = run_script("collect.py", "--env", "Doom", "--preset", "smoke", "--run-dir", str(tmp_path),
                      "--collect.episodes", "2", "--vae.z_dim", "12", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    cfg = Config.from_dict(read_json(tmp_path / "config.json"))
    assert cfg.collect.episodes == 2 and cfg.vae.z_dim == 12
    assert len(list((tmp_path / "episodes").glob("ep_*.npz"))) == 2


def test_game_defaults_fill_only_the_fields_left_unset():
    """Every game's `default` gets a real number of M steps and episodes; a stored or given
    value (an older run's config, a --section.field override) is never replaced."""
    for env in ("Doom", "CarRacing", "Atari/Pong"):
        cfg = resolve(make_config(env), envs.info(env))
        assert cfg.mdnrnn.steps > 0 and cfg.collect.episodes > 0 and cfg.mdnrnn.hidden > 0 and cfg.vae.epochs > 0
        assert cfg.iterate.rounds >= 0 and cfg.controller.generations == 30
    # Breakout's C trains longer in the `default` preset; smoke and paper keep their own counts
    assert resolve(make_config("Atari/Breakout"), envs.info("Atari/Breakout")).controller.generations == 100
    for preset, generations in (("smoke", 3), ("paper", 300)):
        assert resolve(make_config("Atari/Breakout", preset), envs.info("Atari/Breakout")).controller.generations == generations
    cfg = make_config("Doom")
    cfg.mdnrnn.steps, cfg.collect.episodes, cfg.iterate.rounds = 3000, 50, 2
    cfg = resolve(Config.from_dict(cfg.to_dict()), envs.info("Doom"))
    assert (cfg.mdnrnn.steps, cfg.collect.episodes, cfg.iterate.rounds) == (3000, 50, 2)
    # a text field left '' takes the game's choice; a given one stays
    assert resolve(make_config("Atari/Pong"), envs.info("Atari/Pong")).mdnrnn.reward == "classes"
    given = make_config("Atari/Pong")
    given.mdnrnn.reward = "regression"
    assert resolve(given, envs.info("Atari/Pong")).mdnrnn.reward == "regression"


def test_fork_shares_data_and_v_and_retrains_m_without_touching_the_source(smoke_runs, tmp_path):
    source = smoke_runs["Doom"]
    m_before = (source.checkpoints / "mdnrnn.pt").read_bytes()
    fork = tmp_path / "fork"
    proc = run_script("fork_run.py", "--from", str(source.root), "--to", str(fork), "--share", "vae",
                      "--mdnrnn.hidden", "24", "--mdnrnn.windows", "episode")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (fork / "episodes").is_symlink() and (fork / "checkpoints" / "vae.pt").is_symlink()
    assert not (fork / "checkpoints" / "mdnrnn.pt").exists()
    assert set(read_json(fork / "report.json")["stages"]) == {"collect", "vae", "encode"}
    proc = run_script("train_world_model.py", "--run-dir", str(fork), "--stages", "mdnrnn", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert load_checkpoint(fork / "checkpoints" / "mdnrnn.pt", kind="mdnrnn")["meta"]["hidden"] == 24
    assert read_json(fork / "config.json")["mdnrnn"]["windows"] == "episode"
    assert (source.checkpoints / "mdnrnn.pt").read_bytes() == m_before
    again = run_script("fork_run.py", "--from", str(source.root), "--to", str(fork))
    assert again.returncode != 0 and "not empty" in again.stderr
    # a second seed of the same recipe: the fork draws from its own seed, the source keeps its own
    seeded = tmp_path / "seeded"
    proc = run_script("fork_run.py", "--from", str(source.root), "--to", str(seeded), "--share", "vae", "mdnrnn",
                      "--seed", "7")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert read_json(seeded / "config.json")["seed"] == 7 != read_json(source.root / "config.json")["seed"]


def test_a_fork_can_record_more_episodes_and_encode_only_those(smoke_runs, tmp_path):
    source = smoke_runs["Doom"]
    recorded = sorted(p.name for p in source.episodes.iterdir())
    latents_before = {p.name: p.read_bytes() for p in source.latents.iterdir()}
    fork = tmp_path / "more"
    proc = run_script("fork_run.py", "--from", str(source.root), "--to", str(fork), "--share", "vae",
                      "--collect.episodes", str(len(recorded) + 2))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (fork / "episodes").is_symlink() and (fork / "episodes" / recorded[0]).is_symlink()
    assert set(read_json(fork / "report.json")["stages"]) == {"vae"}
    proc = run_script("train_world_model.py", "--run-dir", str(fork), "--stages", "collect", "vae", "encode",
                      "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    stages = read_json(fork / "report.json")["stages"]
    assert stages["collect"]["episodes_recorded"] == 2 and stages["encode"]["episodes_encoded"] == 2
    new = sorted(p.name for p in (fork / "episodes").iterdir() if not p.is_symlink())
    assert len(new) == 2 and not set(new) & set(recorded)
    assert sorted(p.name for p in (fork / "latents").iterdir()) == sorted(recorded + new)
    assert sorted(p.name for p in source.episodes.iterdir()) == recorded
    assert {p.name: p.read_bytes() for p in source.latents.iterdir()} == latents_before


def test_a_fork_with_its_own_v_encodes_into_its_own_latents(smoke_runs, tmp_path):
    """A V override needs a V of the fork's own (a shared one would ignore it); that V's latents
    go to the fork's own folder, so the source's M data stays the source V's."""
    source = smoke_runs["Doom"]
    latents_before = {p.name: p.read_bytes() for p in source.latents.iterdir()}
    refused = run_script("fork_run.py", "--from", str(source.root), "--to", str(tmp_path / "shared"),
                         "--vae.kl_weight", "0.5")
    assert refused.returncode != 0 and "shared V" in refused.stderr and not (tmp_path / "shared").exists()
    fork = tmp_path / "own-v"
    proc = run_script("fork_run.py", "--from", str(source.root), "--to", str(fork), "--share", "--vae.kl_weight", "0.5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (fork / "episodes").is_symlink() and not (fork / "latents").exists()
    assert set(read_json(fork / "report.json")["stages"]) == {"collect"}
    proc = run_script("train_world_model.py", "--run-dir", str(fork), "--stages", "vae", "encode", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (fork / "latents").is_symlink()
    assert sorted(p.name for p in (fork / "latents").iterdir()) == sorted(latents_before)
    assert {p.name: p.read_bytes() for p in source.latents.iterdir()} == latents_before


def test_a_fork_trains_the_shared_m_further_with_dropout_without_touching_the_source(smoke_runs, tmp_path):
    source = smoke_runs["Doom"]
    m_before = (source.checkpoints / "mdnrnn.pt").read_bytes()
    steps = source.load_config().mdnrnn.steps
    fork = tmp_path / "dropout"
    proc = run_script("fork_run.py", "--from", str(source.root), "--to", str(fork), "--share", "vae", "mdnrnn",
                      "--mdnrnn.steps", str(steps + 4), "--mdnrnn.dropout", "0.05", "--controller.dream_dropout", "0.1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "train the shared M on" in proc.stdout
    assert "mdnrnn" not in read_json(fork / "report.json")["stages"]
    proc = run_script("train_world_model.py", "--run-dir", str(fork), "--stages", "mdnrnn", "--no-progress")
    assert proc.returncode == 0, proc.stderr[-2000:]
    ckpt = load_checkpoint(fork / "checkpoints" / "mdnrnn.pt", kind="mdnrnn")
    assert ckpt["state"]["step"] == steps + 4, "resumed from the shared M, not trained from scratch"
    assert not (fork / "checkpoints" / "mdnrnn.pt").is_symlink()
    assert (source.checkpoints / "mdnrnn.pt").read_bytes() == m_before


def test_any_generation_can_be_exported_and_scored_in_both_worlds(smoke_runs, tmp_path):
    source = smoke_runs["Doom"]
    fork = tmp_path / "scored"
    assert run_script("fork_run.py", "--from", str(source.root), "--to", str(fork), "--share", "vae",
                      "mdnrnn").returncode == 0
    exported = tmp_path / "g1.pt"
    proc = run_script("export_controller.py", "--run-dir", str(source.root), "--generation", "1",
                      "--out", str(exported))
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = run_script("evaluate.py", "--run-dir", str(fork), "--controller", str(exported), "--episodes", "3",
                      "--workers", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    scores = read_json(fork / "report.json")["stages"][f"evaluate {exported}"]
    assert scores["controller_generation"] == 1 and len(scores["real_returns"]) == 3
    assert all(r > 0 for r in scores["real_returns"])  # Doom TakeCover: +1 per step survived
    assert f"{scores['real_mean']:.1f}" in proc.stdout
    assert (fork / "evaluation_g1.png").stat().st_size > 1000
    # the same controller in a colder dream, recorded beside the first
    proc = run_script("evaluate.py", "--run-dir", str(fork), "--controller", str(exported), "--episodes", "3",
                      "--workers", "1", "--temperature", "0.5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    cold = read_json(fork / "report.json")["stages"][f"evaluate {exported} tau 0.5"]
    assert cold["temperature"] == 0.5 and scores["temperature"] != 0.5
    assert (fork / "evaluation_g1_tau0.5.png").is_file()
    # the real game alone: the same real episodes, no dream played, the evaluate stages left as they were
    proc = run_script("evaluate.py", "--run-dir", str(fork), "--controller", str(exported), "--episodes", "3",
                      "--workers", "1", "--real-only")
    assert proc.returncode == 0, proc.stderr[-2000:]
    stages = read_json(fork / "report.json")["stages"]
    real = stages[f"evaluate real game {exported}"]
    assert real["real_returns"] == scores["real_returns"] and "dream_returns" not in real
    assert "in the real game:" in proc.stdout and "dream" not in proc.stdout.split("in the real game:")[1]
    assert stages[f"evaluate {exported}"] == scores and (fork / "evaluation_real_g1.png").is_file()


def test_dream_fidelity_checks_what_a_score_reading_m_ends_the_game_by_and_draws_the_lengths(smoke_runs, tmp_path):
    """Pong's M counts the points (its tuning): the fidelity check says what share of held-out
    ends its done head finds told the true score and told 0-0, and --plot draws the lengths."""
    run = smoke_runs["Atari/Pong"]
    assert run.load_config().mdnrnn.score_scale == 21
    plot = tmp_path / "lengths.png"
    proc = run_script("benchmarks/dream_fidelity.py", "--run-dir", str(run.root), "--episodes", "4",
                      "--temperatures", "1.0", "--device", "cpu", "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "told the true score: ends found" in proc.stdout and "told 0–0 throughout: ends found" in proc.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dream_fidelity_says_when_in_an_episode_each_world_ends_it(smoke_runs):
    run = smoke_runs["Doom"]
    proc = run_script("benchmarks/dream_fidelity.py", "--run-dir", str(run.root), "--episodes", "6",
                      "--temperatures", "1.15", "--device", "cpu", "--controller", str(run.controller_checkpoint),
                      "--max-steps", "4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the lengths table gives the median and quartiles beside the mean (a mean hides a split dream)
    real_row = next(line for line in proc.stdout.splitlines() if line.startswith("| real game |"))
    lengths = [len(e.actions) for e in load_latents(run.latents)][:run.stage("collect")["episodes"]]
    q1, median, q3 = np.percentile(lengths, [25, 50, 75])
    assert real_row.split(" | ")[2] == f"{median:.0f} [{q1:.0f}, {q3:.0f}]"
    # --max-steps stops the exploration policy's dream episodes there, and says how many it stopped
    dream_row = next(line for line in proc.stdout.splitlines() if line.startswith("| dream, tau 1.15 |"))
    assert float(dream_row.split(" | ")[1].split(" ± ")[0]) <= 4
    assert re.search(r"stopped at the cap of 4 steps: tau 1\.15: \d of 6", proc.stdout), proc.stdout
    # the controller's dream episodes, beside the longest recorded one
    played = proc.stdout.split(f"the longest recorded real episode: {max(lengths)} steps)")[1]
    row = next(line for line in played.splitlines() if line.startswith("| dream, tau 1.15 |")).split(" | ")
    assert 1 <= float(row[1].split(" ± ")[0]) <= int(row[3]) <= 100  # mean <= longest <= the smoke cap
    table = proc.stdout.split("Episode ends per 100 steps lived")[1]
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert {"exploration, real game", "exploration, dream tau 1.15", "the run's controller, real game",
            "the run's controller, dream"} <= set(rows)
    # the smoke evaluation stops real episodes at 100 steps: an episode that lasted 100 did not end there
    lengths = read_json(run.report_path)["stages"]["evaluate"]["real_returns"]
    ends = sum(n < 100 for n in lengths)
    assert rows["the run's controller, real game"].split(" | ")[1:] == [
        f"{100 * ends / sum(lengths):.2f} ({ends})", "–", "–", "–", "– |"]


def test_a_new_run_starts_from_the_games_tuning_and_a_given_value_wins(tmp_path):
    """Atari's measured V, GameGAN and (Pong's) M settings (envs.atari.TUNING, GAME_TUNING)
    replace the paper's in a new run; a flag given now wins; CarRacing keeps the paper's; a
    stored run keeps what it was started with."""
    from worldsim.apps.cli import base_parser, config_from_args

    parser = base_parser("test")
    _, pong = config_from_args(parser.parse_args(["--env", "Atari/Pong", "--run-dir", str(tmp_path / "a")]))
    for section, values in envs.info("Atari/Pong").tuning.items():
        for name, value in values.items():
            assert getattr(getattr(pong, section), name) == value
    assert pong.vae.background_gain > 0 and pong.vae.lr != VAEConfig().lr
    assert pong.gamegan.background_gain > 0 and pong.gamegan.motion_kernels > 0
    assert pong.mdnrnn.score_scale == 21
    _, given = config_from_args(parser.parse_args(["--env", "Atari/Pong", "--run-dir", str(tmp_path / "b"),
                                                   "--vae.background_gain", "0"]))
    assert given.vae.background_gain == 0 and given.vae.lr == pong.vae.lr
    _, car = config_from_args(parser.parse_args(["--env", "CarRacing", "--run-dir", str(tmp_path / "c")]))
    paper = VAEConfig()
    assert (car.vae.lr, car.vae.batch_size, car.vae.foreground_weight, car.vae.background_gain) == (
        paper.lr, paper.batch_size, paper.foreground_weight, paper.background_gain)
    assert (car.gamegan.background_gain, car.gamegan.motion_kernels, car.mdnrnn.score_scale) == (0, 0, 0)
    stored = make_config("Atari/Pong")  # an Atari run started before the tuning existed
    RunDir(tmp_path / "d").open(stored)
    _, kept = config_from_args(parser.parse_args(["--run-dir", str(tmp_path / "d")]))
    assert kept.vae.background_gain == 0 and kept.vae.lr == VAEConfig().lr


def test_a_run_recorded_from_frames_made_another_way_is_refused_before_any_later_stage(tmp_path):
    """Breakout's frames are now grown before the resize, and Pong's ball too; a run of either
    recorded before (its collect record names no frames, or "area": Atari's were then "area") is
    refused by every stage after collect with a message that says what changed and what to do,
    while a run recorded today goes on."""
    from worldsim.apps.pipeline import FramesChangedError, check_frames, run_stage

    old = RunDir(tmp_path / "old")
    old.open(make_config("Atari/Breakout", "smoke"))
    old.update_stage("collect", status="complete", episodes=1)
    with pytest.raises(FramesChangedError, match=r"'area'.*'grown 7x5, area'.*--run-dir NEW_RUN"):
        run_stage("vae", old, old.load_config(), "cpu", progress=False)
    assert old.stage("vae") == {}  # refused before it started

    today = RunDir(tmp_path / "today")
    today.open(make_config("Atari/Breakout", "smoke"))
    today.update_stage("collect", status="complete", episodes=1, frames=envs.info("Atari/Breakout").frames)
    check_frames(today, "Atari/Breakout")
    pong = RunDir(tmp_path / "pong")
    pong.open(make_config("Atari/Pong", "smoke"))
    pong.update_stage("collect", status="complete", episodes=1, frames="area")
    with pytest.raises(FramesChangedError, match=r"'area'.*'grown 7x5 of 236,236,236 over 144,72,17 in rows 34-193, area'"):
        check_frames(pong, "Atari/Pong")
    pong.update_stage("collect", status="complete", episodes=1, frames=envs.info("Atari/Pong").frames)
    check_frames(pong, "Atari/Pong")


def test_imitate_follower_reads_what_c_reads_in_the_real_game_and_writes_a_controller_that_plays(smoke_runs, tmp_path):
    """benchmarks/imitate_follower.py: [z, h] built over a whole recorded episode is, step by step,
    what LatentController carries through the real game (M advanced with the actions that acted and
    the score so far); the follower's labels do not depend on which episodes are followed beside
    each other; and the fitted controller is one scripts/evaluate.py plays."""
    import importlib.util

    import torch

    from agents.latent import LatentController
    from worldsim.data.episodes import list_episodes, load_episode
    from worldsim.world_model import WorldModel

    spec = importlib.util.spec_from_file_location("imitate_follower", "benchmarks/imitate_follower.py")
    imitate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(imitate)
    run = smoke_runs["Atari/Pong"]
    world = WorldModel.load(run.root, "cpu")
    lat = load_latents(run.latents)[0]
    parts = imitate.input_parts(world, lat.mu, lat.actions, lat.rewards)
    inputs = torch.cat([parts["z"], parts["h"]], dim=-1)
    torch.testing.assert_close(parts["d"][1:], parts["z"][1:] - parts["z"][:-1])  # the motion: z minus the step before's
    tracker = LatentController(world, None, np.zeros(1), num_envs=1)
    for t in range(len(lat.actions)):
        z = torch.from_numpy(lat.mu[t : t + 1])
        torch.testing.assert_close(inputs[t], world.controller_input(z, tracker.h[0], tracker.c[0])[0])
        tracker.advance(z, torch.from_numpy(lat.actions[t : t + 1]))
        tracker.rewarded(lat.rewards[t : t + 1])
    episodes = [load_episode(p).frames for p in list_episodes(run.episodes)[:3]]
    together = imitate.follower_labels(world.game, episodes)
    alone = [imitate.follower_labels(world.game, [frames])[0] for frames in episodes]
    assert [len(x) for x in together] == [len(f) - 1 for f in episodes]
    assert all(np.array_equal(a, b) for a, b in zip(together, alone))
    assert len(np.unique(np.concatenate(together))) > 1  # it moves the paddle, not one button throughout
    out = tmp_path / "imitated"
    proc = run_script("benchmarks/imitate_follower.py", "--run-dir", str(run.root), "--out", str(out), "--steps", "20",
                      "--z", "sample", "--compare", "z", "zd", "--mlp", "8")  # z drawn from V's posterior, as the dream gives it
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "held-out accuracy" in proc.stdout and "(z: sample)" in proc.stdout
    fits = [line for line in proc.stdout.splitlines() if line.startswith("C on ")]
    z_dim, hidden = world.z_dim, world.mdnrnn.hidden  # the run's own [z, h] first, then the others asked for
    assert [line.split(" (")[0] for line in fits] == ["C on [z, h]", "C on z", "C on [z, z - previous z]"]
    assert [f"({n} inputs)" in line for line, n in zip(fits, (z_dim + hidden, z_dim, 2 * z_dim))] == [True] * 3
    assert proc.stdout.count("through 8 hidden ReLU units instead") == 3  # each form, also through a hidden layer
    proc = run_script("evaluate.py", "--run-dir", str(run.root), "--controller", str(out / "controller.pt"),
                      "--real-only", "--episodes", "2", "--device", "cpu", "--plot", str(tmp_path / "real.png"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "in the real game:" in proc.stdout


def test_dream_ball_finds_the_real_ball_and_starts_m_where_the_real_game_has_it(smoke_runs, monkeypatch):
    """benchmarks/dream_ball.py: the real frame compared with itself has its ball found where it is,
    at its own contrast, and an empty field has none there; M's state at each start is the h that C
    reads at that step of the recorded episode (MDNRNN.h_before); the script prints its table."""
    import importlib.util

    import torch

    from worldsim.data.episodes import list_episodes, load_episode
    from worldsim.data.frames import parse_object
    from worldsim.models.mdnrnn import running_score
    from worldsim.world_model import WorldModel

    monkeypatch.syspath_prepend("benchmarks")  # as `python benchmarks/dream_ball.py` has it: it reads atari_v_objects
    spec = importlib.util.spec_from_file_location("dream_ball", "benchmarks/dream_ball.py")
    ball = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ball)
    run = smoke_runs["Atari/Pong"]
    world = WorldModel.load(run.root, "cpu")
    box = parse_object(world.game.ball_and_paddle[0])[2]
    frames = np.concatenate([load_episode(p).frames for p in list_episodes(run.episodes)])
    shown = frames[ball.ball_centre(frames, box)[1]]
    assert len(shown) >= 5, "the smoke run's games show the ball"
    probe = (np.zeros((world.z_dim, 2)), np.zeros(2))
    z = np.zeros((len(shown), world.z_dim))
    itself = ball.compare(shown, shown, box, z, probe)
    assert itself["real"] == len(shown) and itself["found"] == 1.0 and itself["median_gap"] <= 1.0
    assert itself["contrast"] == itself["real_contrast"] > ball.BALL_LEVELS
    field = np.broadcast_to(np.median(shown[:, box[0], box[1]], axis=(1, 2))[:, None, None].astype(np.uint8), shown.shape)
    empty = ball.compare(field.copy(), shown, box, z, probe)
    assert empty["contrast"] == 0 and empty["found"] < 0.5
    lat = load_latents(run.latents)[0]
    episode = (lat.mu, lat.actions, running_score(lat.rewards))
    picks, h, _ = ball.starts_and_states(world.mdnrnn, [episode], 10, 5)
    assert [t0 for _, t0 in picks] == list(range(10, len(lat.actions) - 5 + 1, 10))
    with torch.no_grad():
        before = world.mdnrnn.h_before(torch.from_numpy(lat.mu), torch.from_numpy(lat.actions), torch.from_numpy(episode[2]))
    torch.testing.assert_close(h, before[[t0 for _, t0 in picks]])
    proc = run_script("benchmarks/dream_ball.py", "--run-dir", str(run.root), "--every", "10", "--horizons", "1", "4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| dream at tau 1.15 | 4 |" in proc.stdout and "the ball's mean position" in proc.stdout
