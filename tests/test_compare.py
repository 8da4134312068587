"""GameGAN against V+M (worldsim.apps.compare, benchmarks/world_model_compare.py): PSNR and SSIM on known
cases and against a reference implementation, the action classifier on a game whose action is
plainly visible, and the whole comparison on a tiny Doom run with two GameGANs and V+M."""
import copy
import importlib.util
import json
import os
import re
import shutil
import sys

import numpy as np
import pytest
import torch

from worldsim.apps.compare.counterfactual import horizontal_shift, judge, turn
from worldsim.apps.compare import CompareSettings, compare
from worldsim.apps.compare.action_probe import Transitions, classifier_accuracy, held_windows, train_action_classifier
from worldsim.apps.compare.predictors import GameGANPredictor, VMPredictor, load_predictors
from worldsim.apps.compare.report import markdown
from worldsim.metrics import PSNR_CAP_DB, psnr, ssim
from worldsim.run import RunDir, RunDirError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest


def test_psnr_known_values():
    a = torch.rand(2, 5, 3, 64, 64) * 0.8
    assert psnr(a, a).shape == (2, 5) and torch.all(psnr(a, a) == PSNR_CAP_DB)
    assert torch.isinf(psnr(a, a, max_db=None)).all()
    torch.testing.assert_close(psnr(a, a + 0.1), torch.full((2, 5), 20.0))  # MSE 0.01 -> 20 dB
    torch.testing.assert_close(psnr(a, a + 0.01), torch.full((2, 5), 40.0))
    frames = torch.randint(0, 200, (4, 3, 64, 64), dtype=torch.uint8)
    torch.testing.assert_close(psnr(frames, frames + 51), torch.full((4,), 20 * np.log10(5)))  # uint8 is scaled


def reference_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s SSIM as skimage computes it (Gaussian sigma 1.5 truncated at 3.5 sigma, population
    statistics, the 5-pixel border of the map dropped), per channel of (H, W, C) float64, then averaged."""
    from scipy.ndimage import gaussian_filter

    def blur(x):
        return gaussian_filter(x, 1.5, truncate=3.5)

    c1, c2 = 0.01**2, 0.03**2
    values = []
    for c in range(a.shape[-1]):
        x, y = a[..., c], b[..., c]
        mx, my = blur(x), blur(y)
        vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        values.append(s[5:-5, 5:-5].mean())
    return float(np.mean(values))


def test_ssim_identical_symmetric_and_matches_reference():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    a = rng.random((4, 64, 64, 3))
    b = np.clip(gaussian_filter(a, (0, 1, 1, 0)) + 0.05 * rng.standard_normal(a.shape), 0, 1)
    ta, tb = (torch.tensor(x).permute(0, 3, 1, 2) for x in (a, b))
    torch.testing.assert_close(ssim(ta, ta), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(ssim(ta, tb), ssim(tb, ta))
    ours = ssim(ta.float(), tb.float())
    assert ours.dtype == torch.float32 and (ours < 0.9).all() and (ours > 0.0).all()
    expected = [reference_ssim(a[i], b[i]) for i in range(4)]
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-5)
    if importlib.util.find_spec("skimage") is not None:
        from skimage.metrics import structural_similarity

        sk = [structural_similarity(a[i], b[i], gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                    data_range=1.0, channel_axis=-1) for i in range(4)]
        np.testing.assert_allclose(ours.numpy(), sk, atol=1e-5)
    assert ssim(torch.zeros(2, 3, 3, 64, 64), torch.zeros(2, 3, 3, 64, 64)).shape == (2, 3)


def test_held_windows():
    assert held_windows(np.array([0, 0, 1, 1, 1, 2]), 1).tolist() == [0, 1, 2, 3, 4, 5]
    assert held_windows(np.array([0, 0, 1, 1, 1, 2]), 2).tolist() == [0, 2, 3]
    assert held_windows(np.array([0, 0, 1, 1, 1, 2]), 3).tolist() == [2]
    assert held_windows(np.array([0]), 2).tolist() == []


def shifting_episodes(n: int, steps: int, seed: int) -> Transitions:
    """A blocky texture that moves 2 px left (action 0), stays (1) or moves 2 px right (2)."""
    rng = np.random.default_rng(seed)
    frames, actions = [], []
    for _ in range(n):
        image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
        a = np.repeat(rng.integers(0, 3, steps), rng.integers(1, 4, steps))[:steps]
        ep = [image]
        for action in a:
            ep.append(np.roll(ep[-1], 2 * (int(action) - 1), axis=1))
        frames.append(np.stack(ep))
        actions.append(a.astype(np.int64))
    return Transitions(frames, actions)


def test_action_classifier_reads_a_visible_action():
    train, test = shifting_episodes(6, 60, seed=0), shifting_episodes(2, 60, seed=1)
    model, stats = train_action_classifier(train, 3, steps=120, batch=32, device="cpu", progress=False)
    x = torch.as_tensor(np.concatenate([f[:-1] for f in test.frames])).permute(0, 3, 1, 2)
    x_next = torch.as_tensor(np.concatenate([f[1:] for f in test.frames])).permute(0, 3, 1, 2)
    actions = torch.as_tensor(np.concatenate(test.actions))
    assert classifier_accuracy(model, x, x_next, actions, "cpu") > 0.8  # chance is 1/3
    assert classifier_accuracy(model, x, x, actions, "cpu") < 0.8  # no motion, no action
    assert stats["stride"] == 1 and stats["train_pairs"] == 6 * 60


@pytest.fixture(scope="module")
def compare_run(trained_doom_run, tmp_path_factory):
    """A tiny Doom run with V, M, and two briefly trained GameGANs (with and without memory)."""
    from worldsim.training.gamegan import train_gamegan
    from worldsim.training.mdnrnn import train_mdnrnn

    source, cfg, _ = trained_doom_run
    cfg = copy.deepcopy(cfg)
    run = RunDir(tmp_path_factory.mktemp("compare_run"))
    run.open(cfg)
    run.episodes.symlink_to(source.episodes.resolve(), target_is_directory=True)
    run.latents.symlink_to(source.latents.resolve(), target_is_directory=True)
    run.checkpoints.mkdir()
    shutil.copy(source.vae_checkpoint, run.vae_checkpoint)
    cfg.mdnrnn.steps = 10
    train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)
    cfg.gamegan.steps = cfg.gamegan.eval_every = 2
    train_gamegan(run, cfg, torch.device("cpu"), progress=False)
    cfg.gamegan.memory, cfg.gamegan.name = False, "gamegan_nomemory"
    train_gamegan(run, cfg, torch.device("cpu"), progress=False)
    return run, cfg


def test_predictors_agree_on_their_first_step(compare_run):
    run, cfg = compare_run
    predictors = load_predictors(run, cfg, None, "cpu")
    assert [p.name for p in predictors] == ["gamegan", "gamegan_nomemory", "vm"]
    assert isinstance(predictors[0], GameGANPredictor) and isinstance(predictors[2], VMPredictor)
    frames, actions = torch.rand(2, 4, 3, 64, 64), torch.randint(0, 3, (2, 3))
    for p in predictors:  # the open loop's first step reads the same real x_0 as one step's
        first, one = p.open_loop(frames[:, 0], actions), p.one_step(frames, actions)
        assert first.shape == one.shape == (2, 3, 3, 64, 64)
        torch.testing.assert_close(first[:, 0], one[:, 0], atol=2 / 255, rtol=0)  # V+M's dream renders uint8
    with pytest.raises(RunDirError, match="train_gamegan.py"):
        load_predictors(run, cfg, ["gamegan_big"], "cpu")


def test_comparison_end_to_end(compare_run, tmp_path):
    run, _ = compare_run
    settings = CompareSettings(clips=4, horizon=8, batch=2, classifier_steps=10, classifier_batch=16,
                               classifier_episodes=3, classifier_stride=2, memory_steps=2, memory_starts=2, real_seeds=1, video_clips=2)
    results = compare(run.root, None, settings, tmp_path / "out", progress=False)
    stored = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert stored["horizons"] == [1, 8] and set(stored["models"]) == {"gamegan", "gamegan_nomemory", "vm"}
    for name in ("gamegan", "gamegan_nomemory", "vm", "copy_first_frame", "vae_reconstruction"):
        r = stored["open_loop"][name]
        assert len(r["psnr_by_step"]) == 8 and set(r["psnr_at"]) == {"1", "8"}
        assert all(np.isfinite(v) and 0 < v <= 100 for v in r["psnr_at"].values())
        assert all(-1 <= v <= 1 for v in r["ssim_at"].values())
    assert stored["open_loop"]["copy_first_frame"]["reference"]
    ac = stored["action_classifier"]
    assert set(ac["accuracy"]) == {"real", *(f"{m} {k}" for m in ("gamegan", "gamegan_nomemory", "vm")
                                              for k in ("from_real", "open_loop"))}
    assert all(0 <= v <= 1 for v in ac["accuracy"].values()) and ac["chance"] == pytest.approx(1 / 3, abs=1e-3)
    assert ac["stride"] == 2 and ac["heldout_pairs"] > 0
    memory = stored["memory"]
    assert memory["actions"] == [0, 2] and set(memory["models"]) == {"gamegan", "gamegan_nomemory", "vm"}
    for r in [*memory["models"].values(), memory["real_game"]]:
        assert all(np.isfinite(r[k]) and r[k] >= 0 for k in ("out_mse", "back_mse", "own_back_mse", "back_psnr"))
    counterfactual = stored["counterfactual"]
    assert counterfactual["steps"] == 2 and len(counterfactual["real_game"]["turn_px"]) == 1
    for r in counterfactual["models"].values():
        assert r["starts"] == 2 and len(r["turn_px"]) == 2 and r["median_turn_px"] >= 0
    for name in ("horizon.png", "memory.png", "open_loop.gif"):
        assert (tmp_path / "out" / name).stat().st_size > 1000
    assert not list((tmp_path / "out").glob(".*.tmp"))
    table = markdown(results)
    assert "| vm |" in table and "PSNR@8" in table and "real game*" in table


def load_script(name: str = "world_model_compare"):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_script_writes_results_and_names_a_missing_model(compare_run, tmp_path, monkeypatch, capsys):
    run, _ = compare_run
    script = load_script()
    out = tmp_path / "script"
    assert script.main(["--run-dir", str(run.root), "--models", "vm", "--clips", "2", "--horizon", "4",
                        "--classifier-steps", "2", "--classifier-episodes", "2", "--memory-steps", "1",
                        "--memory-starts", "1", "--real-seeds", "0", "--video-format", "mp4", "--device", "cpu",
                        "--out", str(out), "--no-progress", "--track-objects", "blob:255,255,255@0-63,0-63"]) == 0
    printed = capsys.readouterr().out
    assert "| vm |" in printed and "The blob in open loop" in printed
    stored = json.loads((out / "compare.json").read_text())
    assert stored["models"].keys() == {"vm"} and set(stored["objects"]["blob"]) == {"vm", "copy_first_frame", "vae_reconstruction"}
    assert set(stored["objects"]["blob"]["vm"]["one_step"]) == {"real_frames_showing", "drawn", "placed", "median_distance_px"}
    assert (out / "open_loop.mp4").stat().st_size > 1000
    monkeypatch.setattr(sys, "argv", ["world_model_compare.py", "--run-dir", str(run.root), "--models", "nosuch"])
    with pytest.raises(SystemExit) as exit_info:
        script.run_main(script.main)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "nosuch.pt not found" in err and "--gamegan.name nosuch" in err


def test_deaths_check_reads_the_keep_mask_and_m_ends_on_real_and_generated_frames(compare_run, capsys):
    """benchmarks/gamegan_deaths.py: where the copy skip keeps the frame read, as shares in [0, 1]
    for every model named, and M's expected ends from real and from GameGAN's frames."""
    run, _ = compare_run
    script = load_script("gamegan_deaths")
    assert script.main(["--run-dir", str(run.root), "--models", "gamegan", "gamegan_nomemory",
                        "--clips", "2", "--steps", "3", "--probe", "--probe-own-steps", "2", "1", "0"]) == 0
    printed = capsys.readouterr().out
    for name in ("gamegan", "gamegan_nomemory"):
        for label in ("open loop", "teacher-forced"):
            line = next(l for l in printed.splitlines() if l.startswith(f"{name} {label}: mean keep "))
            keep = float(line.split("mean keep ")[1].split(";")[0])
            assert 0.0 <= keep <= 1.0
        ends = [re.search(r"steps, (.+): ([\d.]+) \(M, real frames: ([\d.]+)\)$", line).groups()
                for line in printed.splitlines() if line.startswith(f"{name}: expected ends over the 2 mid-episode")]
        readers = [reader for reader, _, _ in ends]
        assert readers[0] == "M reading GameGAN's open loop"
        for _, generated, real in ends:  # three steps' end probabilities, summed
            assert 0.0 <= float(real) <= 3.0 and 0.0 <= float(generated) <= 3.0
        assert not any(r.startswith("a probe") for r in readers)  # the tiny run's games were cut, never ended


def test_deaths_check_fits_a_probe_on_the_states_of_games_that_ended(compare_run, tmp_path, capsys):
    """--probe: with episodes the game ended, a logistic end head is fitted on each model's states
    for every number of own-frame steps asked, and read over the held-out deaths and clips."""
    from worldsim.data.episodes import list_episodes, load_episode, save_episode
    run, _ = compare_run
    shutil.copytree(run.root, tmp_path / "run")  # the episodes are copied, not linked
    for path in list_episodes(tmp_path / "run" / "episodes"):  # the tiny run's games are cut: let the game end them
        episode = load_episode(path)
        episode.terminated[-1], episode.truncated[-1] = True, False
        save_episode(path, episode)
    script = load_script("gamegan_deaths")
    assert script.main(["--run-dir", str(tmp_path / "run"), "--models", "gamegan", "--clips", "2", "--steps", "3",
                        "--probe", "--probe-own-steps", "2", "1", "0"]) == 0
    printed = capsys.readouterr().out
    deaths = [line for line in printed.splitlines() if line.startswith("gamegan: expected ends over the last 3 steps of ")]
    probes = [re.search(r"deaths, a probe fitted on the (.+) states \(training loss [\d.]+\): ([\d.]+) ", line).groups()
              for line in deaths if ", a probe fitted on the " in line]
    assert [label for label, _ in probes] == ["open loop", "1 open-loop steps at the end (the real frames before)",
                                              "teacher-forced"]
    assert all(0.0 <= float(expected) <= 3.0 for _, expected in probes)


def test_horizontal_shift_finds_how_far_the_picture_moved():
    rng = np.random.default_rng(0)
    scene = torch.as_tensor(rng.integers(0, 256, (3, 3, 64, 96)), dtype=torch.uint8)
    start = scene[..., 16:80]
    moved = torch.stack([scene[0, :, :, 11:75], scene[1, :, :, 16:80], scene[2, :, :, 23:87]])
    # a window moved 5 px left shows the picture 5 px further right; 7 px right of it, 7 px left
    np.testing.assert_array_equal(horizontal_shift(start, moved), [5, 0, -7])
    other_way = torch.stack([scene[0, :, :, 21:85], scene[1, :, :, 16:80], scene[2, :, :, 9:73]])
    np.testing.assert_array_equal(turn(start, moved, other_way), [-10, 0, 14])
    verdict = judge(np.array([3.0, 4.0, -1.0, 5.0]), np.array([6.0, 8.0]))
    assert verdict["right_way"] == 0.75 and verdict["median_turn_px"] == 3.5 and verdict["turn_over_real"] == 0.5


def test_c_input_probe_reads_h_as_c_sees_it(tmp_path):
    """atari_v_objects --m and atari_tracker --zh-controller read [z_t, h_t] off recorded
    episodes; h_t must be what C reads beside z_t in a rollout: zeros at the first frame, then M's
    state after z_0..z_t-1 and a_0..a_t-1 (here, for a score-reading M, with the score so far)."""
    spec = importlib.util.spec_from_file_location("atari_v_objects", os.path.join(ROOT, "benchmarks", "atari_v_objects.py"))
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    from worldsim.data.episodes import Episode, save_episode
    from worldsim.models.mdnrnn import MDNRNN, running_score
    from worldsim.models.vae import ConvVAE, frames_to_tensor

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    steps = 7
    episode = Episode(rng.integers(0, 256, (steps + 1, 64, 64, 3), dtype=np.uint8), rng.integers(0, 4, steps),
                      np.array([0, 1, 0, -1, 0, 1, 0], np.float32), np.zeros(steps, bool), np.zeros(steps, bool))
    save_episode(tmp_path / "ep_000000.npz", episode)
    vae = ConvVAE(z_dim=8, channels=4).eval()
    mdnrnn = MDNRNN(8, 4, True, hidden=16, score_scale=21.0).eval()
    frames, z, h = check._episode_states(vae, mdnrnn, [tmp_path / "ep_000000.npz"], 100, rng, "cpu")
    assert frames.shape == (steps + 1, 64, 64, 3) and z.shape == (steps + 1, 8) and h.shape == (steps + 1, 16)
    with torch.no_grad():
        mu = vae.encode(frames_to_tensor(episode.frames))[0]
        np.testing.assert_allclose(z, mu.numpy(), atol=1e-5)
        score = torch.as_tensor(running_score(episode.rewards))
        state = mdnrnn.initial_state(1)
        assert not h[0].any()
        for t in range(steps):  # C's rollout: h_t+1 from z_t, a_t and the score before step t
            state = mdnrnn.advance(mu[t : t + 1], torch.as_tensor(episode.actions[t : t + 1]), state, score[t : t + 1])
            np.testing.assert_allclose(h[t + 1], state[0][0, 0].numpy(), atol=1e-5)


def test_atari_v_check_finds_objects_foreground_and_linear_positions():
    spec = importlib.util.spec_from_file_location("atari_v_objects", os.path.join(ROOT, "benchmarks", "atari_v_objects.py"))
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    frames = np.zeros((3, 64, 64, 3), np.uint8)
    for i, (row, col) in enumerate([(10, 20), (30, 40), (50, 5)]):
        frames[i, row : row + 2, col : col + 2] = 236  # a 2 x 2 "ball"
    centres, seen = check.object_centres(frames, (236, 236, 236))
    np.testing.assert_allclose(centres, [[10.5, 20.5], [30.5, 40.5], [50.5, 5.5]])
    assert seen.all() and not check.object_centres(frames, (92, 186, 92))[1].any()
    background = np.zeros((64, 64, 3), np.uint8)
    erased = check.foreground_scores(frames, np.zeros_like(frames), background)  # a V that draws only the background
    kept = check.foreground_scores(frames, frames, background)
    assert erased["foreground_drawn"] == 0.0 and kept["foreground_drawn"] == 1.0 and kept["mse"] == 0.0
    assert erased["background_painted"] == 0.0 and kept["background_painted"] == 0.0
    smeared = frames.copy()
    smeared[:, :, 30] = 236  # a column (clear of every ball) painted the ball's colour from top to bottom
    assert check.foreground_scores(frames, smeared, background)["background_painted"] == pytest.approx(
        3 * 64 / (3 * 64 * 64 - 3 * 4))
    assert erased["foreground_mse"] > 100 * erased["mse"]  # 4 of 4,096 pixels: the whole-frame error hides them
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    y = x @ rng.normal(size=(8, 2))
    assert check.ridge_probe(x[:150], y[:150], x[150:], y[150:], alpha=1e-3)["r2"] > 0.99
    assert check.ridge_probe(x[:150], rng.normal(size=(150, 2)), x[150:], rng.normal(size=(50, 2)))["r2"] < 0.1
    # a coordinate that hardly moves (a paddle's column) does not drag the pooled score down
    fixed = np.column_stack([y[:, 0], 30 + 1e-3 * rng.normal(size=200)])
    assert check.ridge_probe(x[:150], fixed[:150], x[150:], fixed[150:], alpha=1e-3)["r2"] > 0.99


def test_small_object_frames_show_one_square_where_they_say(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "benchmarks"))
    spec = importlib.util.spec_from_file_location("v_small_objects", os.path.join(ROOT, "benchmarks", "v_small_objects.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    frames, where = bench.square_frames(5, 3, np.random.default_rng(0))
    for frame, (row, col) in zip(frames, where.astype(int)):
        square = (frame == bench.OBJECT).all(-1)
        assert square.sum() == 9 and square[row : row + 3, col : col + 3].all()
        assert ((frame == bench.FIELD).all(-1) | square).all()


def test_object_turn_measures_how_far_the_actions_moved_a_paddle():
    """The counterfactual check for a fixed-camera game: the move of one object's centre (Pong's
    green paddle) between k steps of one action and k of the other; NaN where it is not drawn."""
    from worldsim.apps.compare.counterfactual import object_turn
    from worldsim.data.frames import parse_object

    name, colour, box = parse_object("player:92,186,92@10-58,52-63")
    assert name == "player" and box == (slice(10, 59), slice(52, 64))
    field = np.zeros((3, 64, 64, 3), np.uint8)
    field[...] = (144, 72, 17)
    up, down = field.copy(), field.copy()
    for i, (row_up, row_down) in enumerate([(12, 40), (30, 30), (44, 20)]):
        up[i, row_up : row_up + 4, 60:62] = colour
        down[i, row_down : row_down + 4, 60:62] = colour
    down[2, :, :] = (144, 72, 17)  # the third start: the model lost the paddle
    up[:, 5, 60:62] = colour  # the score's colour outside the box is not the paddle
    as_tensor = lambda frames: torch.as_tensor(frames).permute(0, 3, 1, 2)  # noqa: E731
    moved = object_turn(as_tensor(up), as_tensor(down), colour, box, "rows")
    np.testing.assert_allclose(moved[:2], [28.0, 0.0])
    assert np.isnan(moved[2])
    floats = object_turn(as_tensor(up).float() / 255, as_tensor(down).float() / 255, colour, box, "rows")
    np.testing.assert_allclose(floats[:2], moved[:2])
    verdict = judge(moved, np.array([20.0, np.nan, 24.0]))
    assert verdict["starts"] == 2 and verdict["starts_without_the_object"] == 1
    assert verdict["right_way"] == 0.5 and verdict["turn_over_real"] == pytest.approx(14.0 / 22.0, abs=1e-4)
    with pytest.raises(ValueError, match="NAME:R,G,B"):
        parse_object("player:green@10-58,52-63")
    with pytest.raises(ValueError, match="axis"):
        object_turn(as_tensor(up), as_tensor(down), colour, box, "diagonal")


def test_object_keeping_scores_a_dropped_a_misplaced_and_a_kept_ball():
    """The open-loop ball table: of the real frames showing the ball, the share the model draws
    it near the real centre ('placed'), draws it at all ('drawn'), and where it draws one the
    game does not show ('invented')."""
    from worldsim.apps.compare.objects import ObjectTrack

    ball = (200, 72, 72)
    real = np.zeros((3, 10, 64, 64, 3), np.uint8)
    for t in range(10):
        real[:, t, 30 + t : 32 + t, 10 + 2 * t : 12 + 2 * t] = ball
    real[:, 9] = 0  # the last step shows no ball (lost)
    gen = real.copy()
    gen[1] = np.roll(real[1], 10, axis=2)  # clip 1: drawn 10 px too low
    gen[2, 1:] = 0  # clip 2: dropped after the first step
    gen[0, 9, 40:42, 40:42] = ball  # clip 0 invents a ball where the game lost it
    as_tensor = lambda frames: torch.as_tensor(frames).permute(0, 1, 4, 2, 3)  # noqa: E731
    r = ObjectTrack(as_tensor(real), "ball:200,72,72@20-50,0-63").open_loop(as_tensor(gen))
    first, later = r["windows"]["1-1"], r["windows"]["2-8"]
    assert first["real_frames_showing"] == 3 and first["drawn"] == 1.0
    assert first["placed"] == pytest.approx(2 / 3, abs=1e-4) and first["median_distance_px"] == 0.0
    assert later["drawn"] == pytest.approx(2 / 3, abs=1e-4) and later["placed"] == pytest.approx(1 / 3, abs=1e-4)
    assert list(r["windows"]) == ["1-1", "2-8", "9-10"] and r["windows"]["9-10"]["real_frames_showing"] == 3
    assert r["invented"] == pytest.approx(1 / 3, abs=1e-4)
    with pytest.raises(ValueError, match="colour"):
        ObjectTrack(as_tensor(real), "ball:any@20-50,0-63")
