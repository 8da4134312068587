"""Train a controller with CMA-ES (the `cma` package's ask/tell). Each generation is appended to
cmaes.jsonl; a killed run resumes by replaying the logged generations through a fresh
optimizer with the same private random stream (checked sample by sample), so no pickled
optimizer state is ever loaded. The best controller so far is kept as controller.pt."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from tqdm.auto import tqdm

from worldsim.config import ControllerConfig
from worldsim.io import atomic_open

if TYPE_CHECKING:
    import cma

Fitness = Callable[[np.ndarray, int], "np.ndarray | tuple[np.ndarray, dict]"]
"""(population, num_params) candidates and the generation number -> (population,) fitness (the
mean return), or that and a dict of figures to log beside it for the generation."""
Evaluate = Callable[[np.ndarray], np.ndarray]
"""one parameter vector -> the returns of many evaluation episodes"""


class ResumeError(RuntimeError):
    """The logged generations cannot be replayed (another config or a damaged log)."""


def _digest(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float64).tobytes()).hexdigest()[:16]


def _make_optimizer(num_params: int, s: ControllerConfig, seed: int,
                    x0: np.ndarray | None = None) -> cma.CMAEvolutionStrategy:
    import cma  # here, not at the top: with scipy installed it takes ~1 s to import, which every
    # script (and every game process a script spawns) would otherwise pay

    rng = np.random.RandomState(seed)
    start = np.zeros(num_params) if x0 is None else np.asarray(x0, dtype=np.float64)
    return cma.CMAEvolutionStrategy(start, s.sigma0, {
        "popsize": s.population, "seed": seed + 1, "verbose": -9,
        "randn": lambda *shape: rng.standard_normal(shape),  # private stream: replay is exact
    })


def read_log(path: Path) -> list[dict]:
    """Logged generations; a line torn by a kill is dropped (that generation runs again)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def replay(log_path: Path, history: list[dict], num_params: int, settings: ControllerConfig,
           seed: int, x0: np.ndarray | None = None) -> cma.CMAEvolutionStrategy:
    """A fresh optimizer told the logged generations `history` (read from log_path), each checked
    to ask the very candidates that were logged: the search as it stood after the last of them.
    x0: where the search started (None: zeros), as for the logged run."""
    es = _make_optimizer(num_params, settings, seed, x0)
    for record in history:
        candidates = np.asarray(es.ask())
        if _digest(candidates) != record["digest"]:
            raise ResumeError(f"{log_path}: generation {record['generation']} does not replay "
                              "(population, sigma0, seed, size or starting point changed); delete the file to start "
                            "over")
        es.tell(list(candidates), list(-np.asarray(record["returns"])))
    return es


def distribution_mean(log_path: str | Path, num_params: int, settings: ControllerConfig, seed: int,
                      generation: int, x0: np.ndarray | None = None) -> np.ndarray:
    """The CMA-ES search distribution's mean after `generation` (0-based), rebuilt from the log:
    the controller the search stood on then, whether or not an evaluation kept it."""
    log_path = Path(log_path)
    history = read_log(log_path)
    if not 0 <= generation < len(history):
        raise ValueError(f"{log_path} holds generations 0-{len(history) - 1}; got generation {generation}")
    return np.array(replay(log_path, history[:generation + 1], num_params, settings, seed, x0).mean)


def train_cmaes(
    num_params: int,
    fitness: Fitness,
    evaluate: Evaluate,
    settings: ControllerConfig,
    seed: int,
    out_dir: str | Path,
    save_best: Callable[[np.ndarray, dict], None],
    progress: bool = True,
    x0: np.ndarray | None = None,
) -> dict:
    """Run generations until settings.generations are logged (population, sigma0, generations and
    eval_every are read from the controller config; `seed` seeds the search, which starts at x0,
    zeros when None, as the paper's did). Every eval_every generations
    (and at the end) the generation's best candidate and the distribution's mean play
    `evaluate`'s episodes; the parameters with the best mean so far go to save_best(params, info)."""
    if settings.generations < 1:
        raise ValueError(f"controller.generations must be at least 1 (0 is filled with the game's value when a run's "
                         f"config is resolved); got {settings.generations}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / "cmaes.jsonl"
    history = read_log(log_path)
    es = replay(log_path, history, num_params, settings, seed, x0)
    resumed_at = len(history)
    with atomic_open(log_path, "w") as f:  # rewrite without any torn line
        f.writelines(json.dumps(r) + "\n" for r in history)
    best_eval = max((r["eval_mean"] for r in history if "eval_mean" in r), default=-np.inf)
    with open(log_path, "a") as log, tqdm(total=settings.generations, initial=len(history), desc="CMA-ES",
                                          unit="gen", disable=not progress) as bar:
        for generation in range(len(history), settings.generations):
            candidates = np.asarray(es.ask())  # (population, num_params)
            scored = fitness(candidates, generation)
            scored, extra = scored if isinstance(scored, tuple) else (scored, {})
            returns = np.asarray(scored, dtype=np.float64)
            es.tell(list(candidates), list(-returns))
            record = {"generation": generation, "digest": _digest(candidates), "returns": returns.tolist(),
                      "best": float(returns.max()), "mean": float(returns.mean()), "worst": float(returns.min()),
                      "sigma": float(es.sigma), **extra}
            if (generation + 1) % settings.eval_every == 0 or generation + 1 == settings.generations:
                # The generation's best candidate won a noisy race of a few rollouts; the search
                # distribution's mean is often the sturdier controller. Both play the evaluation
                # episodes and the better one counts.
                contenders = {"best_candidate": candidates[int(returns.argmax())], "mean": np.array(es.mean)}
                scores = {name: np.asarray(evaluate(params)) for name, params in contenders.items()}
                pick = max(scores, key=lambda name: scores[name].mean())
                record.update(eval_mean=float(scores[pick].mean()), eval_std=float(scores[pick].std()), eval_of=pick,
                              eval_means={name: float(v.mean()) for name, v in scores.items()})
                if record["eval_mean"] > best_eval:
                    best_eval = record["eval_mean"]
                    save_best(contenders[pick], {"generation": generation, "eval_mean": record["eval_mean"],
                                                 "eval_std": record["eval_std"], "eval_episodes": len(scores[pick]),
                                                 "eval_of": pick})
            log.write(json.dumps(record) + "\n")
            log.flush()
            os.fsync(log.fileno())
            history.append(record)
            bar.update(1)
            bar.set_postfix(best=f"{record['best']:.0f}", mean=f"{record['mean']:.0f}")
    return {"generations": len(history), "generations_run": len(history) - resumed_at, "best_eval_mean": best_eval,
            "history": history}


def plot_fitness(history: list[dict], path: str | Path, title: str) -> None:
    """Best / mean / worst return per generation, and the evaluation points with their spread."""
    from worldsim.media import pyplot, save_figure

    plt = pyplot()
    gens = [r["generation"] + 1 for r in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.fill_between(gens, [r["worst"] for r in history], [r["best"] for r in history], alpha=0.2,
                    label="worst..best candidate")
    ax.plot(gens, [r["mean"] for r in history], label="population mean")
    ax.plot(gens, [r["best"] for r in history], lw=0.8, label="best candidate")
    shaped = bool(history) and all("points_mean" in r for r in history)
    if shaped:  # controller.step_bonus: the fitness is points + a bonus per step; show the points too
        ax.plot(gens, [r["points_mean"] for r in history], ls="--", label="population mean points")
    evals = [r for r in history if "eval_mean" in r]
    if evals:
        ax.errorbar([r["generation"] + 1 for r in evals], [r["eval_mean"] for r in evals],
                    yerr=[r["eval_std"] for r in evals], fmt="o", color="k", capsize=3,
                    label="evaluated (best candidate or mean)")
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness: points + step bonus (evaluations: points)" if shaped else "return")
    ax.set_title(title)
    ax.legend(loc="best" if shaped else "lower right", fontsize=8)
    fig.tight_layout()
    save_figure(path, fig)
