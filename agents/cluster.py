"""Real-game episodes on a Ray cluster: the same episodes `envs.runner.run_episodes` plays on one
machine, played by Ray actors that each keep one game alive between episodes.

Only data crosses the wire. A worker is told which game to run and, for a controller, receives
V's and M's weights (tensors) and C's parameters (an array); for exploration, the policy's name.
It builds the policy itself from worldsim's own classes, so nothing a driver sends is executed
as code. Each episode's exploration policy is seeded from the episode's game seed
(agents.exploration.episode_exploration, which agents.collect uses on one machine too), so an
episode plays the same frames on any worker and on one machine.

Faults: actors restart when their process dies (max_restarts=-1); an episode whose worker died
mid-way is played again from its seed, on whichever worker is free (and a worker whose game
process alone died starts a new game and plays the episode again itself), so a run keeps the number of
episodes it asked for, each exactly once (results are kept by episode index). A driver that dies
resumes like any run: collection skips the episodes on disk, CMA-ES resumes from its log.

    ray start --head                                   # on the head machine (others: ray start --address HEAD:6379)
    python scripts/train_world_model.py --env CarRacing --ray.address auto

Ray is an optional extra (pip install -e ".[ray]") imported only when an address is given."""
from __future__ import annotations

import dataclasses
import time
from collections import deque
from typing import Any, Callable, Sequence

import numpy as np

from envs.rollout import EpisodeResult

RESTARTABLE_ERRORS = ("RayActorError", "WorkerCrashedError", "ActorDiedError", "ActorUnavailableError",
                      "NodeDiedError", "OwnerDiedError", "ObjectLostError")
"""Ray's errors for a task whose worker (or node) died: the episode is played again."""
GAME_CRASHES = ("ViZDoomErrorException", "ViZDoomUnexpectedExitException", "ViZDoomIsNotRunningException")
"""A game's own process dying under a live worker (the worker restarts its game once itself;
if it dies again the episode goes back to the queue)."""
MAX_REPLAYS = 5
"""Times one episode may lose its worker before the run gives up on the cluster."""
PING, RESTART_POLL = -1, 0.2
"""A task that only asks whether a restarting worker is back, and the seconds between asks."""


def _ray():
    try:
        import ray
    except ImportError:
        raise ImportError('--ray.address needs Ray: pip install -c constraints.txt -e ".[ray]"') from None
    return ray


def connect(address: str):
    """Join the Ray cluster at `address` ("auto": the one `ray start` began on this machine;
    "local": start a private one-machine cluster in this process; else HOST:PORT)."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=None if address == "local" else address, include_dashboard=False,
                 configure_logging=False, log_to_driver=False)
    return ray


def world_payload(world) -> dict:
    """What a worker needs to track [z, h] as agents.evaluate.LatentController does: V's and M's
    weights and sizes, as tensors and numbers."""
    vae, m = world.vae, world.mdnrnn
    return {
        "env": world.env,
        "vae": {"spec": vae.spec(), "state": {k: v.cpu() for k, v in vae.state_dict().items()}},
        "mdnrnn": {"spec": m.spec(), "state": {k: v.cpu() for k, v in m.state_dict().items()}},
        "predict_reward": world.predict_reward, "done_pos_weight": world.done_pos_weight,
        "controller_inputs": world.controller_inputs,
    }


def world_from_payload(payload: dict):
    """A WorldModel (on the CPU, without dream start points) from world_payload's data."""
    import torch

    import envs
    from worldsim.models.mdnrnn import MDNRNN
    from worldsim.models.vae import ConvVAE
    from worldsim.world_model import WorldModel

    vae = ConvVAE.from_spec(payload["vae"]["spec"])
    vae.load_state_dict(payload["vae"]["state"])
    m = MDNRNN.from_spec(payload["mdnrnn"]["spec"])
    m.load_state_dict(payload["mdnrnn"]["state"])
    empty = torch.zeros(0, m.z_dim)
    return WorldModel(env=payload["env"], game=envs.info(payload["env"]), vae=vae.eval(), mdnrnn=m.eval(),
                      predict_reward=payload["predict_reward"], done_pos_weight=payload["done_pos_weight"],
                      start_mu=empty, start_logvar=empty, device=torch.device("cpu"),
                      controller_inputs=payload["controller_inputs"])


class GameWorker:
    """One game kept alive between episodes (a Ray actor; plain class, so it is testable without Ray)."""

    def __init__(self, env_name: str, evaluation: bool, world: dict | None = None):
        import torch

        torch.set_num_threads(1)  # one game and V/M's batch-of-one steps: one core per worker
        self.env_name, self.evaluation = env_name, evaluation
        self.games = None
        self._new_game()
        self.world = world_from_payload(world) if world is not None else None

    def ready(self) -> bool:
        """Answers once the worker (after a restart: its new process) holds its game."""
        return True

    def play(self, index: int, seed: int, policy: dict, max_steps: int, record: bool) -> EpisodeResult:
        """Episode `index` from the game's reset(seed), played by the policy described by `policy`:
        {"kind": "exploration", "name": NAME} or {"kind": "controller", "spec": {...}, "params": array}."""
        from envs.rollout import rollout

        for attempt in range(2):
            kept = {}  # rollout hands each trajectory to on_episode, then drops it
            try:
                played = rollout(self.games, self._policy(policy, seed), seeds=[seed], max_steps=max_steps,
                                 record=record, on_episode=lambda episode: kept.update(trajectory=episode.trajectory))
                break
            except Exception:  # noqa: BLE001 - the game's own process died (ViZDoom: "instance crash")
                if attempt:
                    raise
                self._new_game()  # and play the episode again from its seed
        return dataclasses.replace(played.episodes[0], index=index, trajectory=kept.get("trajectory"))

    def _new_game(self) -> None:
        """Start the worker's game, or replace one whose process died (e.g. taken down with a killed
        neighbour's) with a new one."""
        from envs.runner import RealGames

        if self.games is not None:
            try:
                self.games.close()
            except Exception:  # noqa: BLE001 - closing a crashed game may fail as well
                pass
        self.games = RealGames(self.env_name, 1, self.evaluation)

    def _policy(self, policy: dict, seed: int):
        import envs
        from agents.controller import ControllerSpec
        from agents.latent import LatentController
        from agents.exploration import episode_exploration

        if policy["kind"] == "exploration":
            return episode_exploration(envs.info(self.env_name), seed, policy["name"])
        if policy["kind"] == "controller":
            if self.world is None:
                raise ValueError("a controller needs the world model's weights: start the workers with world=")
            return LatentController(self.world, ControllerSpec(**policy["spec"]), np.asarray(policy["params"]), 1)
        raise ValueError(f"unknown policy kind {policy['kind']!r}")


def ray_episodes(address: str, env_name: str, seeds: Sequence[int], policy_for: Callable[[int], dict], *,
                 workers: int = 0, max_steps: int = 0, record: bool = False,
                 on_episode: Callable[[EpisodeResult], None] | None = None, progress: str | None = None,
                 evaluation: bool = False, world: dict | None = None, names: str = "",
                 stats: dict | None = None) -> list[EpisodeResult]:
    """One episode per seed on the Ray cluster at `address`, episode i played by the policy
    `policy_for(i)` describes (see GameWorker.play), `workers` actors (0: one per CPU of the
    cluster); the results in seed order, each episode exactly once. Same arguments and results as
    envs.runner.run_episodes otherwise. names: call the actors NAMES0, NAMES1, ... (so a person
    can find them in `ray list actors`); stats: filled with {"workers", "replayed"}, the episodes
    played again after losing their worker."""
    from tqdm.auto import tqdm

    ray = connect(address)
    count = min(workers or int(ray.cluster_resources().get("CPU", 1)), len(seeds))
    if count == 0:
        return []
    actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=0)(GameWorker)
    shared = ray.put(world) if world is not None else None
    actors = [(actor.options(name=f"{names}{k}") if names else actor).remote(env_name, evaluation, shared)
              for k in range(count)]
    todo, idle = deque(range(len(seeds))), deque(actors)
    inflight: dict[Any, tuple[Any, int]] = {}  # task -> (worker, episode index; PING: the worker restarting)
    replays = np.zeros(len(seeds), dtype=int)
    results: dict[int, EpisodeResult] = {}
    try:
        with tqdm(total=len(seeds), desc=progress, unit="ep", disable=progress is None) as bar:
            while todo or any(i != PING for _, i in inflight.values()):
                while todo and idle:
                    i, worker = todo.popleft(), idle.popleft()
                    ref = worker.play.remote(i, int(seeds[i]), policy_for(i), max_steps, record)
                    inflight[ref] = (worker, i)
                (ref,), _ = ray.wait(list(inflight), num_returns=1)
                worker, i = inflight.pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001 - Ray's error classes vary by version
                    cause = type(getattr(exc, "cause", None)).__name__
                    if type(exc).__name__ not in RESTARTABLE_ERRORS and cause not in GAME_CRASHES:
                        raise
                    if i != PING:
                        replays[i] += 1
                        if replays[i] > MAX_REPLAYS:
                            raise RuntimeError(f"episode {i} (seed {seeds[i]}) lost its Ray worker "
                                               f"{MAX_REPLAYS + 1} times; last: {type(exc).__name__}") from exc
                        todo.appendleft(i)  # played again from its seed, by the next free worker
                    time.sleep(RESTART_POLL)  # the worker is restarting (max_restarts=-1): ask again soon
                    inflight[worker.ready.remote()] = (worker, PING)
                    continue
                idle.append(worker)
                if i == PING or i in results:
                    continue
                results[i] = result
                if on_episode is not None:
                    on_episode(result)
                    result.trajectory = None
                bar.update(1)
    finally:
        for a in actors:
            ray.kill(a)
    if stats is not None:
        stats.update(workers=count, replayed=int(replays.sum()))
    return [results[i] for i in range(len(seeds))]
