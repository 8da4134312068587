"""Train M (the MDN-RNN) on windows of the encoded latent series, sampling z from V's (mu, logvar)
each batch as the paper does; reports held-out NLL, done precision/recall and reward error."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

import envs
from worldsim.checkpoint import save_checkpoint
from worldsim.config import Config
from worldsim.models.mdnrnn import MDNRNN, MDNStepper, end_probability, mdn_nll, running_score
from worldsim.run import RunDir
from worldsim.training import resume
from worldsim.training.loop import Schedule, train
from worldsim.data.episodes import split_episodes
from worldsim.data.latents import LatentEpisode, load_latents


WINDOWS = ("random", "episode")
"""Where M's training windows start (MDNRNNConfig.windows)."""
REWARDS = ("regression", "classes")
"""How M predicts the step's reward (MDNRNNConfig.reward)."""
MIXTURES = ("per_dim", "joint")
"""How M mixes p(z_{t+1}) (MDNRNNConfig.mixture)."""
OWN_DRAWS_HEADS = ("z", "all")
"""Which of M's heads learn from its own draws (MDNRNNConfig.own_draws_heads)."""


def check_choice(option: str, value: str, known: tuple[str, ...]) -> None:
    """Refuse a value of one of M's named options (e.g. option 'windows') that is not among `known`."""
    if value not in known:
        raise ValueError(f"unknown mdnrnn.{option} '{value}'; known: {', '.join(known)}")


@dataclass
class LatentSet:
    """Episodes concatenated into flat arrays so a batch of windows is one fancy-index."""

    mu: np.ndarray  # (frames, z_dim)
    logvar: np.ndarray  # (frames, z_dim)
    actions: np.ndarray  # (frames, ...) action taken at each frame (the final frame's is padding)
    rewards: np.ndarray  # (frames,) reward received on leaving each frame
    done: np.ndarray  # (frames,) the step leaving each frame ended the game
    score: np.ndarray  # (frames, 2) points won and lost in the episode before leaving each frame
    starts: np.ndarray  # (episodes,) first frame of each episode
    steps: np.ndarray  # (episodes,) transitions in each episode

    @classmethod
    def build(cls, episodes: list[LatentEpisode]) -> "LatentSet":
        def pad(a: np.ndarray) -> np.ndarray:
            return np.concatenate([a, np.zeros((1, *a.shape[1:]), a.dtype)])

        steps = np.array([len(e.actions) for e in episodes])
        return cls(
            mu=np.concatenate([e.mu for e in episodes]).astype(np.float32),
            logvar=np.concatenate([e.logvar for e in episodes]).astype(np.float32),
            actions=np.concatenate([pad(e.actions) for e in episodes]),
            rewards=np.concatenate([pad(e.rewards) for e in episodes]).astype(np.float32),
            done=np.concatenate([pad(e.terminated) for e in episodes]).astype(np.float32),
            score=np.concatenate([running_score(e.rewards) for e in episodes]),
            starts=np.concatenate([[0], np.cumsum(steps + 1)[:-1]]),
            steps=steps,
        )

    def windows(self, rng: np.random.Generator, batch: int, seq_len: int,
                start: str = "random") -> dict[str, np.ndarray]:
        """Windows of seq_len transitions, short tails masked. start='random': a window may start
        at any step, so the episode-ending step is seen as often as any other. start='episode':
        windows start at an episode's first frame (episodes drawn uniformly, so every step of
        the data weighs the same) and are cut to the longest episode drawn."""
        check_choice("windows", start, WINDOWS)
        if start == "episode":
            ep = rng.integers(len(self.steps), size=batch)
            offset = np.zeros(batch, dtype=int)
            seq_len = min(seq_len, int(self.steps[ep].max()))
        else:
            ep = rng.choice(len(self.steps), size=batch, p=self.steps / self.steps.sum())
            offset = (rng.random(batch) * self.steps[ep]).astype(int)
        t = offset[:, None] + np.arange(seq_len)[None]  # (batch, seq_len) step within the episode
        mask = t < self.steps[ep][:, None]
        idx = self.starts[ep][:, None] + np.minimum(t, self.steps[ep][:, None] - 1)
        return {"idx": idx, "mask": mask}


MAX_REWARD_CLASSES = 16
"""mdnrnn.reward 'classes' refuses training episodes that pay more distinct values than this."""


def reward_values(cfg: Config, episodes: list[LatentEpisode]) -> tuple[float, ...]:
    """The values M's reward head classifies among (mdnrnn.reward 'classes': every distinct reward
    the episodes pay, and 0), or () where it regresses the reward."""
    kind = cfg.mdnrnn.reward or "regression"  # '' where the game names no choice (config.resolve)
    check_choice("reward", kind, REWARDS)
    if kind != "classes":
        return ()
    values = np.unique(np.concatenate([[0.0], *(e.rewards.astype(np.float64) for e in episodes)]))
    if len(values) > MAX_REWARD_CLASSES:
        raise ValueError(f"{cfg.env}: the training episodes pay {len(values)} distinct rewards, more than "
                         f"{MAX_REWARD_CLASSES} classes; use --mdnrnn.reward regression")
    return tuple(float(v) for v in values) if len(values) > 1 else ()


def build_mdnrnn(cfg: Config, rewards: tuple[float, ...] = ()) -> MDNRNN:
    check_choice("mixture", cfg.mdnrnn.mixture, MIXTURES)
    game = envs.info(cfg.env)
    return MDNRNN(
        z_dim=cfg.vae.z_dim,
        action_dim=game.num_actions,
        discrete_actions=game.discrete,
        hidden=cfg.mdnrnn.hidden,
        gaussians=cfg.mdnrnn.gaussians,
        reward_values=rewards,
        score_scale=cfg.mdnrnn.score_scale,
        joint=cfg.mdnrnn.mixture == "joint",
    )


def check_own_draws(share: float) -> None:
    if not 0.0 <= share < 1.0:
        raise ValueError(f"mdnrnn.own_draws is the share of M's inputs drawn by M itself, in [0, 1), got {share}")


@torch.no_grad()
def own_draw_inputs(model: MDNRNN, z: torch.Tensor, actions: torch.Tensor, score: torch.Tensor | None,
                    share: float, rng: np.random.Generator) -> torch.Tensor:
    """M's inputs with its own draws mixed in (mdnrnn.own_draws): M runs through the window as
    the dream runs it (MDNStepper, from a zero state, no gradients), and each step t >= 1 is, with
    probability `share`, the z M drew at temperature 1 at step t - 1 (having read the input
    chosen for t - 1, so runs of own draws compound as a dream's do), else z[:, t]. z (batch,
    time, z_dim), actions and score as M's forward reads them. -> (batch, time, z_dim)."""
    own = torch.as_tensor(rng.random(z.shape[:2]) < share, device=z.device)
    generator = torch.Generator(z.device).manual_seed(int(rng.integers(2**62)))
    stepper = MDNStepper(model)
    h = c = z.new_zeros(len(z), model.hidden)
    z_t, chosen = z[:, 0], [z[:, 0]]
    for t in range(1, z.shape[1]):
        drawn, h, c, _, _ = stepper.step(z_t, actions[:, t - 1], h, c, 1.0, generator,
                                         score=None if score is None else score[:, t - 1])
        z_t = torch.where(own[:, t, None], drawn, z[:, t])
        chosen.append(z_t)
    return torch.stack(chosen, dim=1)


def losses(model: MDNRNN, data: LatentSet, idx: np.ndarray, mask: np.ndarray, cfg: Config,
           predict_reward: bool, device, sample: bool = True, rng: np.random.Generator | None = None,
           dropout: float = 0.0, own_draws: float = 0.0) -> dict:
    """Mixture NLL of z_{t+1}, done BCE (positives weighted) and the reward's loss over unmasked
    steps: squared error of the value, or cross-entropy over M's reward classes (mdnrnn.reward);
    either way the absolute error of the expected reward too. dropout > 0 runs M with
    per-sequence variational dropout (MDNRNN.forward_dropout); own_draws > 0 feeds M that share
    of its own draws as inputs (own_draw_inputs), the targets unchanged; with
    cfg.mdnrnn.own_draws_heads 'z' only the z mixture reads them, reward and done a second pass
    over V's z."""
    mu = torch.as_tensor(data.mu[idx], device=device)  # (batch, seq, z_dim)
    mu_next = torch.as_tensor(data.mu[idx + 1], device=device)
    if sample:
        z = mu + torch.as_tensor(rng.standard_normal(mu.shape, dtype=np.float32), device=device) * torch.exp(
            0.5 * torch.as_tensor(data.logvar[idx], device=device))
        z_next = mu_next + torch.as_tensor(rng.standard_normal(mu.shape, dtype=np.float32), device=device) * torch.exp(
            0.5 * torch.as_tensor(data.logvar[idx + 1], device=device))
    else:
        z, z_next = mu, mu_next
    m = torch.as_tensor(mask, device=device, dtype=torch.float32)
    n = m.sum().clamp(min=1)
    actions = torch.as_tensor(data.actions[idx], device=device)
    score = torch.as_tensor(data.score[idx], device=device) if model.score_scale else None

    def run(inputs: torch.Tensor):
        if dropout:  # forward_dropout refuses a rate outside [0, 1)
            return model.forward_dropout(inputs, actions, dropout, score=score)
        return model(inputs, actions, score=score)[0]

    out = run(own_draw_inputs(model, z, actions, score, own_draws, rng) if own_draws else z)
    nll = (mdn_nll(out, z_next) * m).sum() / n
    if own_draws and cfg.mdnrnn.own_draws_heads == "z":
        out = run(z)  # reward and done learn from V's picture only
    done = torch.as_tensor(data.done[idx], device=device)
    pos_weight = torch.tensor(cfg.mdnrnn.done_pos_weight, device=device)
    done_loss = (F.binary_cross_entropy_with_logits(out.done_logit, done, pos_weight=pos_weight, reduction="none") * m).sum() / n
    result = {"nll": nll, "done_loss": done_loss, "done_logit": out.done_logit, "done": done, "mask": m}
    total = nll + done_loss
    if predict_reward:
        rewards = torch.as_tensor(data.rewards[idx], device=device)
        expected = model.expected_reward(out.reward)
        reward_err = (expected - rewards) * m
        result["reward_mae"] = reward_err.abs().sum() / n
        result["reward_expected"], result["reward"], result["reward_out"] = expected, rewards, out.reward
        if model.reward_values:
            ce = F.cross_entropy(out.reward.flatten(0, 1), model.reward_classes(rewards).flatten(), reduction="none")
            result["reward_nll"] = (ce.view_as(m) * m).sum() / n
            total = total + cfg.mdnrnn.reward_weight * result["reward_nll"]
        else:
            result["reward_mse"] = reward_err.pow(2).sum() / n
            total = total + cfg.mdnrnn.reward_weight * result["reward_mse"]
    result["loss"] = total
    return result


@torch.no_grad()
def evaluate_mdnrnn(model: MDNRNN, data: LatentSet, cfg: Config, predict_reward: bool, device,
                    max_tokens: int = 20_000) -> dict:
    """Held-out metrics over whole episodes from their first frame, with z = mu. Episodes go
    through M in chunks of similar length (about max_tokens padded steps each), so a large
    held-out set costs its own steps, not its count times the longest episode."""
    model.eval()
    totals = dict.fromkeys(("nll", "steps", "tp", "predicted", "actual", "expected", "reward_abs", "reward_nll",
                            "won", "won_expected", "lost", "lost_expected"), 0.0)
    order = np.argsort(data.steps, kind="stable")
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end - start + 1) * int(data.steps[order[end]]) <= max_tokens:
            end += 1
        chunk, start = order[start:end], end
        steps = data.steps[chunk]
        t = np.arange(int(steps.max()))[None]
        idx = data.starts[chunk][:, None] + np.minimum(t, steps[:, None] - 1)
        r = losses(model, data, idx, t < steps[:, None], cfg, predict_reward, device, sample=False)
        m = r["mask"].bool()
        n = m.sum().item()
        predicted = (r["done_logit"] > 0)[m]
        actual = r["done"][m].bool()
        totals["nll"] += r["nll"].item() * n
        totals["steps"] += n
        totals["tp"] += (predicted & actual).sum().item()
        totals["predicted"] += predicted.sum().item()
        totals["actual"] += actual.sum().item()
        # the dream ends an episode with probability sigmoid(logit - log w) per step (DreamEpisodes._done)
        totals["expected"] += end_probability(r["done_logit"], cfg.mdnrnn.done_pos_weight)[m].sum().item()
        if predict_reward:
            totals["reward_abs"] += r["reward_mae"].item() * n
            totals["reward_nll"] += r["reward_nll"].item() * n if "reward_nll" in r else 0.0
            reward, expected = r["reward"][m], r["reward_expected"][m]
            totals["won"] += reward.clamp(min=0).sum().item()
            totals["lost"] -= reward.clamp(max=0).sum().item()
            if model.reward_values:  # the expected points from each side's classes
                p = F.softmax(r["reward_out"][m], dim=-1)
                totals["won_expected"] += (p @ model.reward_table.clamp(min=0)).sum().item()
                totals["lost_expected"] -= (p @ model.reward_table.clamp(max=0)).sum().item()
            else:
                totals["won_expected"] += expected.clamp(min=0).sum().item()
                totals["lost_expected"] -= expected.clamp(max=0).sum().item()
    actual = totals["actual"]
    out = {
        "nll": totals["nll"] / totals["steps"],
        # undefined (None) when nothing was predicted / nothing ended, e.g. CarRacing never terminates
        "done_precision": totals["tp"] / totals["predicted"] if totals["predicted"] else None,
        "done_recall": totals["tp"] / actual if actual else None,
        "done_positives": int(actual),
        # episode ends the done head expects along these real episodes over those that happened:
        # 1 when the dream's ending draws are calibrated on real play
        "done_expected_ratio": totals["expected"] / actual if actual else None,
    }
    if predict_reward:
        out["reward_mae"] = totals["reward_abs"] / totals["steps"]
        if model.reward_values:
            out["reward_nll"] = totals["reward_nll"] / totals["steps"]
        # points M expects along these real episodes over those they won (lost): 1 when the dream's
        # rewards are calibrated on real play; None where the episodes won (lost) nothing
        for side in ("won", "lost"):
            out[f"points_{side}_expected_ratio"] = (totals[f"{side}_expected"] / totals[side]) if totals[side] else None
    return out


class MDNRNNTraining:
    """M as a worldsim.training.loop trainee: one step is one batch of windows of the encoded
    episodes (z sampled from V's posterior each time, as the paper does); held-out NLL, done
    and reward scores and the checkpoint come every mdnrnn.eval_every steps."""

    label, log_name, finite, shown = "M", "mdnrnn", ("loss",), ("nll",)

    def __init__(self, run: RunDir, cfg: Config, device: torch.device):
        self.run, self.cfg, self.mc, self.device = run, cfg, cfg.mdnrnn, device
        self.checkpoint = run.mdnrnn_checkpoint
        check_choice("windows", self.mc.windows, WINDOWS)
        check_own_draws(self.mc.own_draws)
        check_choice("own_draws_heads", self.mc.own_draws_heads, OWN_DRAWS_HEADS)
        torch.manual_seed(cfg.seed)
        self.predict_reward = not envs.info(cfg.env).survival_reward
        if self.mc.score_scale and not self.predict_reward:
            raise ValueError(f"{cfg.env} pays +1 per step survived, which is no score for M to read: "
                             "leave mdnrnn.score_scale at 0")
        self.train_eps, self.val_eps = split_episodes(load_latents(run.latents), self.mc.val_fraction, cfg.seed)
        self.train_set, self.val_set = LatentSet.build(self.train_eps), LatentSet.build(self.val_eps)
        self.model = build_mdnrnn(cfg, reward_values(cfg, self.train_eps) if self.predict_reward else ()).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.mc.lr)
        self.schedule = Schedule(self.mc.steps, self.mc.eval_every, 20)
        self.start: tuple[int, float] | None = None  # (step, time) this process started training at

    def resume(self) -> tuple[int, dict] | None:
        ckpt = resume(self.checkpoint, "mdnrnn", self.cfg.env, self.model, self.optimizer, self.mc.lr,
                      check=self._same_form)
        return (ckpt["state"]["step"], ckpt["meta"]["history"]) if ckpt else None

    def _same_form(self, meta: dict) -> None:
        """Refuse a checkpoint that reads the score otherwise (0: saved before M could read it) or
        mixes z otherwise (saved before the joint mixture existed: per dimension)."""
        fork = "keep it, or train a new M in a forked run (scripts/fork_run.py --share vae)"
        stored = float(meta.get("score_scale", 0.0))
        if stored != self.model.score_scale:
            raise ValueError(f"{self.checkpoint} reads the score divided by {stored:g} (mdnrnn.score_scale), this "
                             f"run asks for {self.model.score_scale:g}: {fork}")
        joint = bool(meta.get("joint", False))
        if joint != self.model.joint:
            raise ValueError(f"{self.checkpoint} is an M with mdnrnn.mixture '{'joint' if joint else 'per_dim'}', "
                             f"this run asks for '{self.mc.mixture}': {fork}")

    def untrained(self) -> dict:
        return evaluate_mdnrnn(self.model, self.val_set, self.cfg, self.predict_reward, self.device)

    def step(self, step: int) -> dict[str, float]:
        if self.start is None:
            self.start = (step, time.perf_counter())
        self.model.train()
        rng = np.random.default_rng([self.cfg.seed, step])
        w = self.train_set.windows(rng, self.mc.batch_size, self.mc.seq_len, self.mc.windows)
        r = losses(self.model, self.train_set, w["idx"], w["mask"], self.cfg, self.predict_reward, self.device,
                   rng=rng, dropout=self.mc.dropout, own_draws=self.mc.own_draws)
        self.optimizer.zero_grad(set_to_none=True)
        r["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.mc.grad_clip)
        self.optimizer.step()
        return {"loss": r["loss"].item(), "nll": r["nll"].item(), "done_loss": r["done_loss"].item()}

    def evaluate(self, step: int, history: dict) -> dict[str, float]:
        metrics = evaluate_mdnrnn(self.model, self.val_set, self.cfg, self.predict_reward, self.device)
        metrics["steps_per_second"] = (step - self.start[0]) / (time.perf_counter() - self.start[1])
        history["latest"] = {"step": step, **metrics}
        return {f"val_{k}": v for k, v in metrics.items() if v is not None}

    def save(self, step: int, history: dict) -> None:
        model = self.model
        save_checkpoint(
            self.checkpoint,
            kind="mdnrnn",
            env=self.cfg.env,
            model=model.state_dict(),
            meta={**model.spec(), "predict_reward": self.predict_reward, "config": self.cfg.to_dict(),
                  "history": history},
            state={"step": step, "optimizer": self.optimizer.state_dict()},
        )

    def report(self, history: dict) -> dict:
        latest = history["latest"]
        return {
            "val_nll": latest["nll"],
            "val_nll_untrained": history["untrained"]["nll"],
            "done_precision": latest["done_precision"],
            "done_recall": latest["done_recall"],
            "done_expected_ratio": latest.get("done_expected_ratio"),
            "reward_mae": latest.get("reward_mae"),
            "reward_values": list(self.model.reward_values) or None,
            "points_won_expected_ratio": latest.get("points_won_expected_ratio"),
            "points_lost_expected_ratio": latest.get("points_lost_expected_ratio"),
            "steps_per_second": latest["steps_per_second"],
            "train_episodes": len(self.train_eps),
            "val_episodes": len(self.val_eps),
        }


def train_mdnrnn(run: RunDir, cfg: Config, device: torch.device, progress: bool = True) -> dict:
    """The pipeline's mdnrnn stage: M trained to mdnrnn.steps on the run's encoded episodes."""
    trainee = MDNRNNTraining(run, cfg, device)
    return trainee.report(train(trainee, trainee.schedule, run.logs, progress))
