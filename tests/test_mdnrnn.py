"""M learns the game's latent dynamics: held-out NLL drops on real latents; training resumes
at the step it stopped; temperature sampling behaves as the paper describes."""
import copy
import math
import warnings

import numpy as np
import pytest
import torch

from worldsim.checkpoint import load_checkpoint
from worldsim.models.mdnrnn import MDNOutput, MDNRNN, MDNStepper, load_mdnrnn, mdn_nll, sample_next_z
from worldsim.run import RunDir
from worldsim.training.mdnrnn import own_draw_inputs, train_mdnrnn


def _run_with_latents(source: RunDir, tmp_path) -> RunDir:
    run = RunDir(tmp_path)
    run.root.mkdir(exist_ok=True)
    run.latents.symlink_to(source.latents, target_is_directory=True)
    return run


def _smoke_m_run(smoke_runs, game: str, tmp_path):
    """A fresh run on the smoke run of `game`'s latents, and a copy of that run's config. -> (run, cfg)."""
    source = smoke_runs[game]
    return _run_with_latents(source, tmp_path), copy.deepcopy(source.load_config())


@pytest.mark.parametrize("mixture, own_draws", [("per_dim", 0.0), ("joint", 0.0), ("per_dim", 0.5)])
def test_nll_drops_below_initial_on_real_latents(trained_doom_run, tmp_path, mixture, own_draws):
    source, cfg, _ = trained_doom_run
    cfg = copy.deepcopy(cfg)
    cfg.mdnrnn.steps, cfg.mdnrnn.eval_every, cfg.mdnrnn.lr, cfg.mdnrnn.mixture = 80, 80, 3e-3, mixture
    cfg.mdnrnn.own_draws = own_draws  # half its inputs M's own draws: the held-out NLL is still teacher-forced
    run = _run_with_latents(source, tmp_path)
    report = train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)
    assert report["val_nll"] < report["val_nll_untrained"] - 0.1
    m, _ = load_mdnrnn(run.mdnrnn_checkpoint)
    assert m.joint == (mixture == "joint")  # the checkpoint says which mixture its head is laid out for


def test_an_unknown_mixture_is_refused(smoke_runs, tmp_path):
    run, cfg = _smoke_m_run(smoke_runs, "Doom", tmp_path)
    cfg.mdnrnn.mixture = "shared"
    with pytest.raises(ValueError, match="unknown mdnrnn.mixture 'shared'; known: per_dim, joint"):
        train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)


@pytest.mark.parametrize("score_scale", [0.0, 3.0])
def test_own_draws_feed_m_the_z_it_drew_from_what_it_read_the_step_before(score_scale):
    m = _trained_like_m(score_scale=score_scale)
    z, a = torch.randn(5, 12, 6), torch.randint(0, 3, (5, 12))
    score = torch.randint(0, 3, (5, 12, 2)).float() if score_scale else None
    torch.testing.assert_close(own_draw_inputs(m, z, a, score, 0.0, np.random.default_rng(3)), z, rtol=0, atol=0)
    chosen = own_draw_inputs(m, z, a, score, 0.6, np.random.default_rng(3))
    # the same draws, the slow way: nn.LSTM one step at a time over the inputs chosen so far
    rng = np.random.default_rng(3)
    own = rng.random((5, 12)) < 0.6
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    want, state = [z[:, 0]], None
    for t in range(1, 12):
        with torch.no_grad():
            out, state = m(want[-1][:, None], a[:, t - 1 : t], state, score=None if score is None else score[:, t - 1 : t])
        want.append(torch.where(torch.as_tensor(own[:, t, None]), sample_next_z(out, 1.0, generator), z[:, t]))
    torch.testing.assert_close(chosen, torch.stack(want, dim=1), rtol=1e-4, atol=1e-4)
    replaced = (chosen - z).abs().amax(dim=-1) > 0
    assert not replaced[:, 0].any() and (replaced[:, 1:] == torch.as_tensor(own[:, 1:])).all()
    assert 0.4 < replaced[:, 1:].float().mean() < 0.8


def test_a_share_of_own_draws_of_one_is_refused(smoke_runs, tmp_path):
    run, cfg = _smoke_m_run(smoke_runs, "Doom", tmp_path)
    cfg.mdnrnn.own_draws = 1.0
    with pytest.raises(ValueError, match=r"mdnrnn.own_draws .* in \[0, 1\), got 1.0"):
        train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)


def test_own_draws_for_z_only_leave_reward_and_done_to_v_s_picture():
    """With mdnrnn.own_draws_heads 'z' the z mixture learns from M's own draws while reward and
    done learn from V's z (the teacher-forced losses, exactly); with 'all' they read the draws too."""
    from worldsim.config import make_config
    from worldsim.training.mdnrnn import LatentSet, build_mdnrnn, losses

    cfg = make_config("Atari/Pong", "smoke")
    cfg.vae.z_dim, cfg.mdnrnn.hidden = 4, 16
    torch.manual_seed(0)
    m = build_mdnrnn(cfg, (-1.0, 0.0, 1.0))
    data = LatentSet.build(_rally_episodes(np.random.default_rng(0)))
    w = data.windows(np.random.default_rng(1), 8, 20)

    def run(own_draws: float, heads: str) -> dict:
        cfg.mdnrnn.own_draws_heads = heads
        return losses(m, data, w["idx"], w["mask"], cfg, True, "cpu", rng=np.random.default_rng(2), own_draws=own_draws)

    forced, drawn, z_only = run(0.0, "all"), run(0.5, "all"), run(0.5, "z")
    assert z_only["nll"].item() == pytest.approx(drawn["nll"].item(), rel=1e-6)
    assert abs(drawn["nll"].item() - forced["nll"].item()) > 1e-5  # the draws did change what M read
    for key in ("done_loss", "reward_nll", "reward_mae"):
        assert z_only[key].item() == pytest.approx(forced[key].item(), rel=1e-6)
        assert abs(drawn[key].item() - forced[key].item()) > 1e-5
    assert z_only["loss"].item() == pytest.approx(
        drawn["nll"].item() + forced["done_loss"].item() + cfg.mdnrnn.reward_weight * forced["reward_nll"].item(), rel=1e-5)


def test_an_unknown_own_draws_heads_is_refused(smoke_runs, tmp_path):
    run, cfg = _smoke_m_run(smoke_runs, "Doom", tmp_path)
    cfg.mdnrnn.own_draws_heads = "reward"
    with pytest.raises(ValueError, match="unknown mdnrnn.own_draws_heads 'reward'; known: z, all"):
        train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)


def test_a_checkpoint_of_the_other_mixture_is_refused_with_what_to_do(smoke_runs, tmp_path):
    run, cfg = _smoke_m_run(smoke_runs, "Doom", tmp_path)
    cfg.mdnrnn.steps, cfg.mdnrnn.eval_every = 2, 2
    train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)
    cfg.mdnrnn.steps, cfg.mdnrnn.mixture = 4, "joint"
    with pytest.raises(ValueError, match="mdnrnn.mixture 'per_dim', this run asks for 'joint'.*fork_run.py --share vae"):
        train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)


def test_a_joint_mixture_scores_the_whole_z_and_draws_one_component_for_all_of_it():
    m = _trained_like_m(z_dim=3, gaussians=2, joint=True)
    out, _ = m(torch.randn(5, 4, 3), torch.randint(0, 3, (5, 4)))
    assert out.logpi.shape == (5, 4, 1, 2) and out.mu.shape == (5, 4, 3, 2)
    z_next = torch.randn(5, 4, 3)
    want = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=out.logpi[..., 0, :]),
        torch.distributions.Independent(torch.distributions.Normal(out.mu.movedim(-1, -2), out.logsigma.exp().movedim(-1, -2)), 1),
    ).log_prob(z_next)
    torch.testing.assert_close(mdn_nll(out, z_next), -want / 3)
    # components at (-3, -3, -3) (weight 0.8) and (+3, +3, +3) (0.2), sigma 0.1: one draw moves every dimension
    # together; the paper's mixture per dimension, with the same weights, mixes signs within a z
    for joint in (True, False):
        m = _trained_like_m(z_dim=3, gaussians=2, joint=joint)
        with torch.no_grad():
            m.head.weight.zero_()
            weights, means, scales = [math.log(0.8), math.log(0.2)], [-3.0, 3.0], [math.log(0.1)] * 2
            per_z = [means + scales] * 3 if joint else [weights + means + scales] * 3
            m.head.bias.copy_(torch.tensor((weights if joint else []) + sum(per_z, []) + [0.0, 0.0]))  # reward, done
        n = 20000
        args = (torch.zeros(n, 3), torch.zeros(n, dtype=torch.long), torch.zeros(n, 16), torch.zeros(n, 16))
        z = MDNStepper(m).step(*args, 1.0, torch.Generator().manual_seed(0))[0]
        torch.testing.assert_close(z, sample_next_z(m(args[0][:, None], args[1][:, None])[0], 1.0,
                                                    torch.Generator().manual_seed(0)), rtol=1e-4, atol=1e-4)
        mixed = ((z > 0).any(1) & (z < 0).any(1)).float().mean().item()
        if joint:
            assert mixed == 0.0 and abs((z[:, 0] > 0).float().mean().item() - 0.2) < 0.015
        else:
            assert abs(mixed - (1 - 0.8 ** 3 - 0.2 ** 3)) < 0.015


def test_reward_head_is_trained_for_games_with_real_reward(smoke_runs, tmp_path):
    run, cfg = _smoke_m_run(smoke_runs, "CarRacing", tmp_path)
    cfg.mdnrnn.steps = 10
    report = train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)
    assert report["reward_mae"] is not None


def test_training_resumes_at_the_step_it_stopped(smoke_runs, tmp_path):
    run, cfg = _smoke_m_run(smoke_runs, "Doom", tmp_path)
    cfg.mdnrnn.steps, cfg.mdnrnn.eval_every = 10, 10
    train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)
    first = run.mdnrnn_checkpoint.read_bytes()
    cfg.mdnrnn.steps = 20
    report = train_mdnrnn(run, cfg, torch.device("cpu"), progress=False)
    ckpt = load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")
    assert ckpt["state"]["step"] == 20 and ckpt["meta"]["history"]["latest"]["step"] == 20
    assert run.mdnrnn_checkpoint.read_bytes() != first
    assert report["val_nll_untrained"] == load_checkpoint(run.mdnrnn_checkpoint, kind="mdnrnn")["meta"]["history"]["untrained"]["nll"]


def _two_component_output():
    # one latent dim, components at -3 (weight 0.9) and +3 (weight 0.1), sigma 0.5
    logpi = torch.log(torch.tensor([0.9, 0.1])).view(1, 1, 1, 2).repeat(4000, 1, 1, 1)
    mu = torch.tensor([-3.0, 3.0]).view(1, 1, 1, 2).repeat(4000, 1, 1, 1)
    logsigma = torch.full_like(mu, np.log(0.5))
    zeros = torch.zeros(4000, 1)
    return MDNOutput(logpi, mu, logsigma, zeros, zeros)


def test_low_temperature_picks_the_likely_mode_and_high_temperature_spreads():
    out = _two_component_output()
    g = torch.Generator().manual_seed(0)
    cold = sample_next_z(out, 0.001, g)  # noise sd 0.5 * sqrt(0.001) = 0.016
    assert (cold - -3.0).abs().max() < 0.1
    warm = sample_next_z(out, 1.0, g)
    assert 0.05 < (warm > 0).float().mean() < 0.15  # the 0.1 component
    hot = sample_next_z(out, 3.0, g)
    assert (hot > 0).float().mean() > (warm > 0).float().mean()  # flattened weights
    assert hot[hot < 0].std() > warm[warm < 0].std()  # wider Gaussians


def test_nll_is_lowest_at_the_predicted_mean():
    out = _two_component_output()
    at_mode = mdn_nll(out, torch.full((4000, 1, 1), -3.0)).mean()
    off_mode = mdn_nll(out, torch.full((4000, 1, 1), 0.0)).mean()
    assert at_mode < off_mode


def test_discrete_and_continuous_actions_are_accepted():
    m = MDNRNN(z_dim=4, action_dim=3, discrete_actions=True, hidden=8)
    out, state = m(torch.zeros(2, 5, 4), torch.tensor([[0, 1, 2, 1, 0]] * 2))
    assert out.mu.shape == (2, 5, 4, 5) and state[0].shape == (1, 2, 8)
    m = MDNRNN(z_dim=4, action_dim=3, discrete_actions=False, hidden=8)
    out, _ = m(torch.zeros(2, 5, 4), torch.zeros(2, 5, 3))
    assert out.done_logit.shape == (2, 5)


def test_zero_temperature_is_the_mean_of_the_likeliest_component():
    out = _two_component_output()
    assert torch.equal(sample_next_z(out, 0.0), torch.full((4000, 1), -3.0))


def _trained_like_m(hidden=16, z_dim=6, gaussians=5, score_scale=0.0, joint=False):
    torch.manual_seed(0)
    m = MDNRNN(z_dim=z_dim, action_dim=3, discrete_actions=True, hidden=hidden, gaussians=gaussians,
               score_scale=score_scale, joint=joint).eval()
    with torch.no_grad():  # spread the mixture logits so components really differ
        m.head.weight.mul_(8.0)
    return m


@pytest.mark.parametrize("score_scale, joint", [(0.0, False), (3.0, False), (3.0, True)])
def test_dream_stepper_matches_the_model_step_for_step(score_scale, joint):
    m = _trained_like_m(score_scale=score_scale, joint=joint)
    stepper = MDNStepper(m)
    z, a = torch.randn(7, 6), torch.tensor([0, 1, 2, 1, 0, 2, 1])
    h, c = torch.randn(7, 16), torch.randn(7, 16)
    score = torch.tensor([[0, 0], [1, 0], [0, 2], [2, 2], [0, 0], [3, 1], [1, 3]], dtype=torch.float32) if score_scale else None
    ref, (h_ref, c_ref) = m(z[:, None], a[:, None], (h[None], c[None]), score=None if score is None else score[:, None])
    out, h1, c1 = stepper(z, a, h, c, score=score)
    torch.testing.assert_close(h1, h_ref[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(c1, c_ref[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.log_softmax(out.logpi, -1), ref.logpi, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out.mu, ref.mu, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.logsigma, ref.logsigma, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.done_logit, ref.done_logit, rtol=1e-4, atol=1e-5)
    # the whole dream step at tau = 0: the likeliest component's mean
    z0, h2, _, reward, done_logit = stepper.step(z, a, h, c, 0.0, score=score)
    expected = ref.mu[:, -1].gather(-1, ref.logpi[:, -1].argmax(-1, keepdim=True).expand(7, 6, 1)).squeeze(-1)
    torch.testing.assert_close(z0, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(h2, h_ref[0], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(done_logit, ref.done_logit[:, -1], rtol=1e-4, atol=1e-5)


def test_dropout_unroll_is_the_lstm_without_dropout_and_the_dream_step_under_the_same_masks():
    m = _trained_like_m()
    z, a = torch.randn(4, 9, 6), torch.randint(0, 3, (4, 9))
    with torch.no_grad():
        plain, _ = m(z, a)
        unrolled = m.forward_dropout(z, a, 0.0)
        for x, y in zip(unrolled, plain):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)
        # p = 0.3: the masks the unroll drew (same generator seed) replayed through the dream's stepper
        dropped = m.forward_dropout(z, a, 0.3, torch.Generator().manual_seed(5))
        g = torch.Generator().manual_seed(5)
        keep = 0.7
        masks = [torch.bernoulli(torch.full((4, n), keep), generator=g) / keep for n in (6 + 3, 16)]
        stepper, h, c = MDNStepper(m), torch.zeros(4, 16), torch.zeros(4, 16)
        for t in range(9):
            out, h, c = stepper(z[:, t], a[:, t], h, c, torch.cat(masks, dim=1))
            torch.testing.assert_close(out.mu[:, 0], dropped.mu[:, t], rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(out.done_logit[:, 0], dropped.done_logit[:, t], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(dropped.mu, plain.mu, atol=1e-3), "dropout changes M's predictions"


def test_dream_step_draws_components_with_the_tempered_weights():
    m = _trained_like_m(z_dim=1, gaussians=2)
    with torch.no_grad():  # one latent dim: components at -3 (weight 0.8) and +3 (0.2), sigma 0.1
        m.head.weight.zero_()
        m.head.bias.copy_(torch.tensor([math.log(0.8), math.log(0.2), -3.0, 3.0, math.log(0.1), math.log(0.1), 0, 0]))
    stepper, n = MDNStepper(m), 20000
    g = torch.Generator().manual_seed(0)
    args = (torch.zeros(n, 1), torch.zeros(n, dtype=torch.long), torch.zeros(n, 16), torch.zeros(n, 16))
    for tau in (1.0, 2.0):
        z = stepper.step(*args, tau, g)[0]
        p = 0.2 ** (1 / tau) / (0.2 ** (1 / tau) + 0.8 ** (1 / tau))
        assert abs((z > 0).float().mean().item() - p) < 0.015
        assert abs(z[z > 0].std().item() - 0.1 * math.sqrt(tau)) < 0.01


@pytest.mark.slow
def test_compiled_dream_step_agrees_with_the_eager_one():
    m = _trained_like_m()
    eager, compiled = MDNStepper(m), MDNStepper(m, compile=True)
    n = MDNStepper.compile_from_batch * 2
    z, a = torch.randn(n, 6), torch.randint(0, 3, (n,))
    h, c = torch.randn(n, 16), torch.randn(n, 16)
    with warnings.catch_warnings():
        # a failed compilation falls back with a warning: fail here instead
        warnings.filterwarnings("error", message="torch.compile of M's dream step failed")
        got = compiled.step(z, a, h, c, 1.15, torch.Generator().manual_seed(3))
        tracked = compiled(z, a, h, c)  # M's step without the draw, as the GameGAN dream runs it
    want = eager.step(z, a, h, c, 1.15, torch.Generator().manual_seed(3))
    for x, y in zip(got, want):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)
    out, h_eager, c_eager = eager(z, a, h, c)
    torch.testing.assert_close(tracked[1:], (h_eager, c_eager), rtol=1e-4, atol=1e-4)
    for x, y in zip(tracked[0], out):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)


def test_done_expected_ratio_counts_the_endings_the_dream_would_draw():
    """A done head that gives every step the same ending chance p (after undoing the loss's
    positive weight, as the dream does) expects p × steps endings along real episodes."""
    from worldsim.config import make_config
    from worldsim.data.latents import LatentEpisode
    from worldsim.training.mdnrnn import LatentSet, evaluate_mdnrnn

    cfg = make_config("Doom", "smoke")
    rng = np.random.default_rng(0)
    episodes = []
    for steps in (10, 20, 30):  # 60 steps, 3 real endings
        ends = np.zeros(steps, bool)
        ends[-1] = True
        episodes.append(LatentEpisode(mu=rng.normal(size=(steps + 1, 4)).astype(np.float32),
                                      logvar=np.zeros((steps + 1, 4), np.float32),
                                      actions=rng.integers(0, 3, steps), rewards=np.ones(steps, np.float32),
                                      terminated=ends))
    m = MDNRNN(z_dim=4, action_dim=3, discrete_actions=True, hidden=8)
    for p, ratio in ((0.05, 1.0), (0.1, 2.0)):
        with torch.no_grad():
            m.head.weight[-1].zero_()
            m.head.bias[-1] = math.log(p / (1 - p)) + math.log(cfg.mdnrnn.done_pos_weight)
        metrics = evaluate_mdnrnn(m, LatentSet.build(episodes), cfg, False, "cpu")
        assert metrics["done_expected_ratio"] == pytest.approx(ratio, rel=1e-4)
        # in length-sorted chunks (one episode each here) the metrics are the same
        chunked = evaluate_mdnrnn(m, LatentSet.build(episodes), cfg, False, "cpu", max_tokens=25)
        assert_same_metrics(chunked, metrics)


def assert_same_metrics(got: dict, expected: dict, rel: float = 1e-5) -> None:
    """Numbers agree within `rel`; a metric that is undefined (None, e.g. precision with no
    predicted ending) is undefined in both."""
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(value, rel=rel), key


def test_episode_windows_start_where_every_dream_episode_starts():
    """mdnrnn.windows='episode': each training window begins at an episode's first frame (M's
    LSTM from a zero state there, as in the dream), runs to the episode's end or seq_len, is
    padded only to the longest episode drawn, and draws episodes uniformly."""
    from worldsim.data.latents import LatentEpisode
    from worldsim.training.mdnrnn import LatentSet

    lengths = (5, 12, 30)
    data = LatentSet.build([
        LatentEpisode(mu=np.full((n + 1, 2), i, np.float32), logvar=np.zeros((n + 1, 2), np.float32),
                      actions=np.zeros(n, int), rewards=np.ones(n, np.float32), terminated=np.arange(n) == n - 1)
        for i, n in enumerate(lengths)])
    rng = np.random.default_rng(0)
    drawn = []
    for _ in range(200):
        w = data.windows(rng, 4, 20, "episode")
        episode = data.mu[w["idx"][:, 0], 0].astype(int)  # each episode's frames carry its index
        assert (w["idx"][:, 0] == data.starts[episode]).all()
        assert (w["mask"].sum(1) == np.minimum(np.array(lengths)[episode], 20)).all()
        assert w["idx"].shape[1] == min(20, max(lengths[e] for e in episode))
        assert (data.mu[w["idx"], 0] == episode[:, None]).all()  # a window never runs into the next episode
        drawn.extend(episode)
    assert np.bincount(drawn).min() > 200  # uniform: ~267 of 800 each
    w = data.windows(rng, 4, 20, "random")  # the default: windows start anywhere
    assert w["idx"].shape == (4, 20)
    with pytest.raises(ValueError, match="mdnrnn.windows"):
        data.windows(rng, 4, 20, "episodes")


def _rally_episodes(rng, count: int = 6, steps: int = 40):
    """Latent episodes where action 1 wins a point (+1) and action 2 loses one (-1); action 0 pays 0."""
    from worldsim.data.latents import LatentEpisode

    episodes = []
    for _ in range(count):
        actions = rng.integers(0, 3, steps)
        rewards = np.select([actions == 1, actions == 2], [1.0, -1.0], 0.0).astype(np.float32)
        episodes.append(LatentEpisode(mu=rng.normal(size=(steps + 1, 4)).astype(np.float32),
                                      logvar=np.full((steps + 1, 4), -4.0, np.float32), actions=actions,
                                      rewards=rewards, terminated=np.zeros(steps, bool)))
    return episodes


def test_reward_classes_are_the_values_the_episodes_pay_and_the_dream_pays_them_at_their_odds():
    from worldsim.config import make_config
    from worldsim.training.mdnrnn import LatentSet, evaluate_mdnrnn, reward_values

    cfg = make_config("Atari/Pong", "smoke")
    episodes = _rally_episodes(np.random.default_rng(0))
    cfg.mdnrnn.reward = "classes"
    assert reward_values(cfg, episodes) == (-1.0, 0.0, 1.0)
    cfg.mdnrnn.reward = "regression"
    assert reward_values(cfg, episodes) == ()
    cfg.mdnrnn.reward = "points"
    with pytest.raises(ValueError, match="unknown mdnrnn.reward 'points'"):
        reward_values(cfg, episodes)

    m = MDNRNN(z_dim=4, action_dim=3, discrete_actions=True, hidden=8, reward_values=(-1.0, 0.0, 1.0))
    odds = torch.tensor([0.1, 0.7, 0.2])
    with torch.no_grad():  # the same odds whatever M reads
        m.head.weight[-4:-1].zero_()
        m.head.bias[-4:-1] = odds.log()
    out, _ = m(torch.zeros(1, 1, 4), torch.zeros(1, 1, dtype=torch.long))
    assert out.reward.shape == (1, 1, 3) and m.expected_reward(out.reward).item() == pytest.approx(0.1, abs=1e-6)
    paid = m.pay(out.reward[:, -1].expand(20_000, 3), torch.Generator().manual_seed(0))
    assert set(paid.unique().tolist()) == {-1.0, 0.0, 1.0}  # whole points, as the game pays
    for value, p in zip((-1.0, 0.0, 1.0), odds.tolist()):
        assert (paid == value).float().mean().item() == pytest.approx(p, abs=0.01)
    # along real episodes M expects 0.2 won and 0.1 lost per step: against what they paid
    data = LatentSet.build(episodes)
    metrics = evaluate_mdnrnn(m, data, cfg, True, "cpu")
    won, lost = (data.rewards == 1).sum(), (data.rewards == -1).sum()
    assert metrics["points_won_expected_ratio"] == pytest.approx(0.2 * data.steps.sum() / won, rel=1e-4)
    assert metrics["points_lost_expected_ratio"] == pytest.approx(0.1 * data.steps.sum() / lost, rel=1e-4)
    # the dream stepper gives the head's reward outputs as the model does
    stepper = MDNStepper(m)
    z, h, c, reward, done = stepper.step(torch.zeros(2, 4), torch.tensor([0, 1]), torch.zeros(2, 8), torch.zeros(2, 8), 1.0)
    torch.testing.assert_close(reward, odds.log().expand(2, 3), rtol=0, atol=1e-6)


def test_m_learns_which_action_wins_a_point():
    """Trained briefly on rallies where action 1 scores and action 2 concedes, M's reward classes
    pay the point after the action that earns it, and expect as many points as were played."""
    from worldsim.config import make_config
    from worldsim.training.mdnrnn import LatentSet, build_mdnrnn, evaluate_mdnrnn, losses

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = make_config("Atari/Pong", "smoke")
    cfg.vae.z_dim, cfg.mdnrnn.hidden = 4, 16
    m = build_mdnrnn(cfg, (-1.0, 0.0, 1.0))
    train, held = LatentSet.build(_rally_episodes(rng, 16)), LatentSet.build(_rally_episodes(rng, 4))
    optimizer = torch.optim.Adam(m.parameters(), lr=1e-2)
    for step in range(150):
        w = train.windows(rng, 16, 20)
        loss = losses(m, train, w["idx"], w["mask"], cfg, True, "cpu", rng=rng)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    metrics = evaluate_mdnrnn(m, held, cfg, True, "cpu")
    assert metrics["reward_nll"] < 0.1  # log 3 = 1.10 untrained
    assert metrics["points_won_expected_ratio"] == pytest.approx(1.0, abs=0.1)
    assert metrics["points_lost_expected_ratio"] == pytest.approx(1.0, abs=0.1)
    out, _ = m(torch.zeros(3, 1, 4), torch.tensor([[0], [1], [2]]))
    assert m.reward_values[int(out.reward[0, -1].argmax())] == 0.0
    assert m.reward_values[int(out.reward[1, -1].argmax())] == 1.0
    assert m.reward_values[int(out.reward[2, -1].argmax())] == -1.0


def _first_to(points: int, rng, count: int, shown: bool = False):
    """Latent episodes of a game that ends when either side has `points` points: action 1 wins a
    point, action 2 loses one (each taken 1 step in 10). z is noise, so the score lives only in
    the rewards paid before; or, `shown`, z's first two dimensions show it (won and lost / points),
    as V's z shows Pong's score."""
    from worldsim.data.latents import LatentEpisode

    episodes = []
    for _ in range(count):
        actions, rewards, won, lost = [], [], 0, 0
        while won < points and lost < points:
            a = int(rng.choice(3, p=[0.8, 0.1, 0.1]))
            actions.append(a)
            rewards.append({0: 0.0, 1: 1.0, 2: -1.0}[a])
            won, lost = won + (a == 1), lost + (a == 2)
        steps = len(actions)
        terminated = np.zeros(steps, bool)
        terminated[-1] = True
        mu = rng.normal(size=(steps + 1, 4)).astype(np.float32)
        if shown:
            from worldsim.models.mdnrnn import running_score

            mu[:, :2] = running_score(np.array(rewards)) / points
        episodes.append(LatentEpisode(mu=mu, logvar=np.full((steps + 1, 4), -4.0, np.float32),
                                      actions=np.array(actions), rewards=np.array(rewards, np.float32),
                                      terminated=terminated))
    return episodes


def test_running_score_counts_points_won_and_lost_before_each_step():
    from worldsim.models.mdnrnn import add_points, running_score

    score = running_score(np.array([0.0, 1.0, -1.0, 0.0, -1.0]))
    assert score.tolist() == [[0, 0], [0, 0], [1, 0], [1, 1], [1, 1], [1, 2]]
    paid = add_points(torch.tensor([[1.0, 2.0], [0.0, 0.0]]), torch.tensor([-1.0, 1.0]))
    assert paid.tolist() == [[1.0, 3.0], [1.0, 0.0]]


def _fit_m(data, scale: float, steps: int = 500):
    from worldsim.config import make_config
    from worldsim.training.mdnrnn import build_mdnrnn, losses

    torch.manual_seed(0)
    cfg = make_config("Atari/Pong", "smoke")
    cfg.vae.z_dim, cfg.mdnrnn.hidden, cfg.mdnrnn.score_scale = 4, 16, scale
    m = build_mdnrnn(cfg, (-1.0, 0.0, 1.0))
    optimizer = torch.optim.Adam(m.parameters(), lr=1e-2)
    fit = np.random.default_rng(1)
    for _ in range(steps):
        w = data.windows(fit, 16, 12)
        loss = losses(m, data, w["idx"], w["mask"], cfg, True, "cpu", rng=fit)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return m, cfg


def test_an_m_that_reads_the_score_ends_the_game_when_its_count_reaches_the_end():
    """Trained on windows that start mid-episode, an M that reads only (z, a) cannot know the
    score, so it cannot tell which lost point ends the game; told the points won and lost so far
    (mdnrnn.score_scale), its done head names the ending steps. It ends the game by the count it
    is told, not by z's picture of the score (which a dream redraws): told 0-0, it ends nothing.
    Such an M refuses to run without the score."""
    import copy as copying

    from worldsim.training.mdnrnn import LatentSet, evaluate_mdnrnn

    rng = np.random.default_rng(0)
    train, held = LatentSet.build(_first_to(3, rng, 160)), LatentSet.build(_first_to(3, rng, 32))
    found = {}
    for scale in (0.0, 3.0):
        m, cfg = _fit_m(train, scale)
        found[scale] = evaluate_mdnrnn(m, held, cfg, True, "cpu")
    assert found[3.0]["done_recall"] >= 0.9 and found[3.0]["done_precision"] >= 0.9
    assert (found[0.0]["done_precision"] or 0.0) < 0.5  # without the score: every lost point looks alike

    train, held = LatentSet.build(_first_to(3, rng, 160, shown=True)), LatentSet.build(_first_to(3, rng, 32, True))
    m, cfg = _fit_m(train, 3.0)
    assert evaluate_mdnrnn(m, held, cfg, True, "cpu")["done_recall"] >= 0.9
    untold = copying.copy(held)
    untold.score = np.zeros_like(held.score)
    assert (evaluate_mdnrnn(m, untold, cfg, True, "cpu")["done_recall"] or 0.0) <= 0.1

    with pytest.raises(ValueError, match="reads the episode's score"):
        m(torch.zeros(1, 1, 4), torch.zeros(1, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="score_scale"):
        MDNRNN(z_dim=4, action_dim=3, discrete_actions=True, score_scale=-1.0)
