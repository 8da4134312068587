"""V learns: a briefly trained VAE reconstructs held-out frames better than an untrained one;
a NaN loss stops training and keeps the last good checkpoint."""
import copy

import numpy as np
import pytest
import torch

from worldsim.data.episodes import list_episodes, split_episodes
from worldsim.data.frames import iter_frame_batches
from worldsim.models.vae import ConvVAE
from worldsim.run import RunDir
from worldsim.training import TrainingDivergedError
from worldsim.models.vae import load_vae
from worldsim.training.vae import evaluate_vae, held_out_frames, train_vae


def test_model_shapes():
    vae = ConvVAE(z_dim=16, channels=8)
    recon, mu, logvar = vae(torch.rand(5, 3, 64, 64))
    assert recon.shape == (5, 3, 64, 64) and mu.shape == logvar.shape == (5, 16)
    assert 0 <= recon.min() and recon.max() <= 1


def test_frame_stream_visits_every_training_frame_once(doom_run):
    run, _ = doom_run
    paths = list_episodes(run.episodes)[:3]
    batches = list(iter_frame_batches(paths, 32, buffer_episodes=2, rng=np.random.default_rng(0)))
    total = sum(len(b) for b in batches)
    assert total == len(held_out_frames(paths, limit=10**6))
    assert all(len(b) == 32 for b in batches[:-1])


def test_trained_vae_reconstructs_held_out_frames_better(trained_doom_run):
    run, cfg, report = trained_doom_run
    assert report["val_reconstruction"] < 0.6 * report["val_loss_untrained"]
    assert (run.vae_reconstructions).is_file()

    _, val = split_episodes(list_episodes(run.episodes), cfg.vae.val_fraction, cfg.seed)
    frames = held_out_frames(val)
    untrained = evaluate_vae(ConvVAE(cfg.vae.z_dim, cfg.vae.channels), frames, 0.5, "cpu")["reconstruction"]
    trained = evaluate_vae(load_vae(run.vae_checkpoint, env=cfg.env), frames, 0.5, "cpu")["reconstruction"]
    assert trained < 0.6 * untrained


def test_nan_loss_stops_and_keeps_last_good_checkpoint(doom_run, tmp_path):
    source, cfg = doom_run
    cfg = copy.deepcopy(cfg)
    run = RunDir(tmp_path)
    run.episodes.symlink_to(source.episodes, target_is_directory=True)
    cfg.vae.epochs, cfg.vae.lr = 1, 1e-4
    train_vae(run, cfg, torch.device("cpu"), progress=False)
    good = run.vae_checkpoint.read_bytes()
    cfg.vae.epochs, cfg.vae.lr = 2, 1e30  # Adam steps of 1e30 blow the weights up within a few steps
    with pytest.raises(TrainingDivergedError, match="last good checkpoint kept"):
        train_vae(run, cfg, torch.device("cpu"), progress=False)
    assert run.vae_checkpoint.read_bytes() == good


def test_v_and_m_hold_out_the_same_episodes(trained_doom_run):
    """One split rule: with the same val_fraction, M validates on the very episodes V held out
    (their encodings carry the same actions), so neither has trained on the other's held-out play."""
    from worldsim.data.episodes import load_episode
    from worldsim.data.latents import load_latents

    run, cfg, _ = trained_doom_run
    v_train, v_val = split_episodes(list_episodes(run.episodes), cfg.vae.val_fraction, cfg.seed)
    m_train, m_val = split_episodes(load_latents(run.latents), cfg.vae.val_fraction, cfg.seed)
    assert len(v_val) == len(m_val) >= 1 and len(v_train) == len(m_train)
    for path, latent in zip(v_val, m_val):
        np.testing.assert_array_equal(load_episode(path).actions, latent.actions)


def test_foreground_weight_multiplies_the_error_of_object_pixels_only():
    """V's loss with foreground weights: an error on the object's pixels counts `weight` times in
    the total, one on the background once; the reported reconstruction stays unweighted."""
    from worldsim.data.frames import foreground_mask, foreground_weights
    from worldsim.models.vae import vae_loss

    background = torch.full((1, 3, 8, 8), 0.5)
    frame = background.clone()
    frame[..., 2:4, 2:4] = 1.0  # a 2x2 white object
    mask = foreground_mask(frame, background)
    assert mask.sum() == 4 and mask.shape == (1, 1, 8, 8)
    weights = foreground_weights(frame, background, 10.0)
    mu = logvar = torch.zeros(1, 4)
    off_object = frame.clone()
    off_object[..., 2:4, 2:4] = 0.5  # the object erased: error 0.25 on 4 pixels x 3 channels
    off_background = frame.clone()
    off_background[..., 5:7, 5:7] = 1.0  # the same error on 4 background pixels
    erased, rec_erased, _ = vae_loss(off_object, frame, mu, logvar, 0.0, weights)
    spotted, rec_spotted, _ = vae_loss(off_background, frame, mu, logvar, 0.0, weights)
    assert rec_erased.item() == pytest.approx(3.0) and rec_spotted.item() == pytest.approx(3.0)
    assert erased.item() == pytest.approx(30.0) and spotted.item() == pytest.approx(3.0)


def test_background_is_the_median_frame_and_foreground_what_differs(tmp_path):
    from worldsim.data.episodes import Episode, episode_path, save_episode
    from worldsim.data.frames import background_frame, foreground_mask
    from worldsim.models.vae import frames_to_tensor

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        frames = np.full((11, 64, 64, 3), (144, 72, 17), np.uint8)  # Pong's orange field
        for t in range(11):  # a white ball somewhere different in every frame
            r, c = rng.integers(0, 62, 2)
            frames[t, r : r + 2, c : c + 2] = 236
        paths.append(episode_path(tmp_path, i))
        save_episode(paths[-1], Episode(frames=frames, actions=np.zeros(10, np.int64), rewards=np.zeros(10, np.float32),
                                        terminated=np.zeros(10, bool), truncated=np.zeros(10, bool)))
    background = background_frame(paths, 30, rng)
    assert (background == (144, 72, 17)).all()
    mask = foreground_mask(frames, background)
    assert mask.sum(axis=(1, 2)).tolist() == [4] * 11
    tensor_mask = foreground_mask(frames_to_tensor(frames), frames_to_tensor(background[None]))
    np.testing.assert_array_equal(tensor_mask[:, 0].numpy(), mask)


def test_a_v_that_subtracts_the_background_sees_only_what_differs_and_keeps_its_background(tmp_path):
    """vae.background_gain: the encoder reads (frame - background) * gain, so the backdrop itself
    encodes as an all-zero input would; the background travels in V's checkpoint."""
    from worldsim.checkpoint import save_checkpoint

    torch.manual_seed(0)
    background = torch.rand(1, 3, 64, 64)
    vae = ConvVAE(z_dim=8, channels=4, background_gain=4.0)
    vae.set_background(background)
    with torch.no_grad():
        mu_backdrop, _ = vae.encode(background)
        mu_zeros = vae.to_mu(vae.encoder(torch.zeros(1, 3, 64, 64)))
        frame = background.clone()
        frame[..., 30:32, 30:32] = 1.0  # a 2x2 object on the backdrop
        mu_object, _ = vae.encode(frame)
        object_alone = (frame - background) * 4.0
        torch.testing.assert_close(mu_object, vae.to_mu(vae.encoder(object_alone)))
    torch.testing.assert_close(mu_backdrop, mu_zeros)
    path = tmp_path / "vae.pt"
    save_checkpoint(path, kind="vae", env="Atari/Pong", model=vae.state_dict(), meta=vae.spec())
    loaded = load_vae(path, "Atari/Pong")
    assert loaded.background_gain == 4.0
    torch.testing.assert_close(loaded.background, background)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(frame)[0], mu_object)
    with pytest.raises(ValueError, match="no background"):
        ConvVAE(z_dim=8, channels=4).set_background(background)
    # a checkpoint written before the field existed still loads, reading whole frames
    assert ConvVAE.from_spec({"z_dim": 8, "channels": 4}).background_gain == 0.0


def test_keypoint_positions_are_read_and_drawn_where_they_are():
    """vae.keypoints: the spatial softmax reads a peak's position, and the decoder's blob for a
    position peaks at that position; the two grids agree on [-1, 1]."""
    from worldsim.models.vae import gaussian_blobs, spatial_expectation

    logits = torch.full((1, 2, 31, 31), -30.0)
    logits[0, 0, 5, 20] = logits[0, 1, 30, 0] = 30.0  # (row, column)
    xy = spatial_expectation(logits)
    grid = torch.linspace(-1, 1, 31)
    torch.testing.assert_close(xy, torch.stack([grid[20], grid[5], grid[0], grid[30]])[None])
    blobs = gaussian_blobs(xy, 31)
    assert blobs.shape == (1, 2, 31, 31)
    assert divmod(int(blobs[0, 0].argmax()), 31) == (5, 20) and divmod(int(blobs[0, 1].argmax()), 31) == (30, 0)
    with pytest.raises(ValueError, match="keypoints"):
        ConvVAE(z_dim=8, background_gain=1.0, keypoints=5)
    with pytest.raises(ValueError, match="background_gain"):
        ConvVAE(z_dim=8, keypoints=1)


def test_a_keypoint_v_puts_a_small_objects_position_in_z(tmp_path):
    """Trained briefly on frames of one 2x2 dot at random places on a grey backdrop, a V with one
    keypoint draws the dot and holds its column and row as z's first two entries (correlation >
    0.95 on new frames); it survives a checkpoint."""
    from worldsim.checkpoint import save_checkpoint
    from worldsim.data.frames import foreground_weights
    from worldsim.models.vae import vae_loss

    def dots(n, gen):
        cols, rows = torch.randint(2, 60, (n,), generator=gen), torch.randint(2, 60, (n,), generator=gen)
        frames = torch.full((n, 3, 64, 64), 0.3)
        for k in range(n):
            frames[k, :, rows[k] : rows[k] + 2, cols[k] : cols[k] + 2] = 1.0
        return frames, cols.float(), rows.float()

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    vae = ConvVAE(z_dim=6, channels=8, background_gain=1.0, keypoints=1)
    vae.set_background(torch.full((1, 3, 64, 64), 0.3))
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-3)
    for _ in range(600):
        frames, _, _ = dots(32, gen)
        recon, mu, logvar = vae(frames)
        weights = foreground_weights(frames, vae.background, 100.0)
        loss, _, _ = vae_loss(recon, frames, mu, logvar, 0.5, weights, positions=vae.positions)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    frames, cols, rows = dots(256, gen)
    with torch.no_grad():
        mu, logvar = vae.eval().encode(frames)
        recon = vae.decode(mu)
    assert mu.shape == (256, 6) and mu[:, :2].abs().max() <= 1
    assert torch.corrcoef(torch.stack([mu[:, 0], cols]))[0, 1] > 0.95
    assert torch.corrcoef(torch.stack([mu[:, 1], rows]))[0, 1] > 0.95
    dot = frames > 0.5
    assert ((recon - frames)[dot] ** 2).mean() < 0.1, "the dot is drawn (0.49 if left grey)"
    path = tmp_path / "vae.pt"
    save_checkpoint(path, kind="vae", env="Atari/Breakout", model=vae.state_dict(), meta=vae.spec())
    loaded = load_vae(path, "Atari/Breakout")
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode(frames)[0], mu)
        torch.testing.assert_close(loaded.decode(mu), recon)
