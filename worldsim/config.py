"""Typed configuration for every stage, its presets (`smoke`, `default`, `paper`) and the
command-line overrides. A run directory stores the full config it used as config.json."""
from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
from dataclasses import dataclass, field, fields
from typing import Any

PRESETS = ("smoke", "default", "paper")


@dataclass
class CollectConfig:
    episodes: int = 400
    """number of real-game episodes to record"""
    workers: int = 0
    """parallel game processes (0: one per CPU core)"""
    max_steps: int = 0
    """cap on steps per recorded episode (0: the game's own cap)"""


@dataclass
class VAEConfig:
    z_dim: int = 0
    """latent size (0: the paper's value for the game: 32 CarRacing, 64 Doom, 32 Atari)"""
    channels: int = 32
    """width of the first conv layer; the paper's encoder is 32/64/128/256"""
    epochs: int = 3
    """passes over the training frames"""
    batch_size: int = 100
    """frames per step (paper: 100)"""
    lr: float = 1e-4
    """Adam learning rate (paper: 1e-4)"""
    kl_tolerance: float = 0.5
    """free-bits floor: KL below kl_tolerance * z_dim nats is not penalised (paper: 0.5)"""
    val_fraction: float = 0.05
    """share of episodes held out for validation"""
    buffer_episodes: int = 32
    """episodes loaded at once into the shuffle buffer (bounds memory)"""


@dataclass
class MDNRNNConfig:
    hidden: int = 0
    """LSTM size (0: the paper's value: 256 CarRacing/Atari, 512 Doom)"""
    gaussians: int = 5
    """mixture components per latent dimension (paper: 5)"""
    seq_len: int = 100
    """training sequence length (paper: 999 CarRacing, 500 Doom)"""
    batch_size: int = 32
    """sequences per step (paper: 100)"""
    lr: float = 1e-3
    """Adam learning rate (paper: 1e-3)"""
    steps: int = 3000
    """optimisation steps"""
    grad_clip: float = 1.0
    """gradient norm clip (paper: 1.0)"""
    done_pos_weight: float = 10.0
    """weight of positive (episode-ending) steps in the done loss (paper's Doom model: 10)"""
    reward_weight: float = 1.0
    """weight of the reward regression loss (ignored for survival-reward games)"""
    val_fraction: float = 0.05
    """share of episodes held out for validation"""
    eval_every: int = 500
    """steps between held-out evaluations and checkpoints"""


@dataclass
class ControllerConfig:
    population: int = 64
    """CMA-ES population (paper: 64)"""
    rollouts: int = 16
    """dream episodes per candidate, averaged into its fitness (paper: 16)"""
    sigma0: float = 0.1
    """CMA-ES initial step size (paper: 0.1)"""
    generations: int = 100
    """CMA-ES generations"""
    temperature: float = 1.15
    """dream temperature tau during training (paper's best for Doom: 1.15)"""
    eval_every: int = 10
    """generations between evaluations of the generation's best candidate"""
    eval_episodes: int = 256
    """dream episodes in each of those evaluations (paper: 1024)"""
    max_steps: int = 0
    """dream episode cap (0: the real game's cap)"""


@dataclass
class EvaluateConfig:
    episodes: int = 100
    """real-game (and dream) episodes to evaluate the trained controller on"""
    seed: int = 1
    """seed of the evaluation's game seeds (drawn from a stream that collection never uses)"""
    workers: int = 0
    """parallel game processes (0: one per CPU core)"""


@dataclass
class Config:
    env: str = "Doom"
    """game: CarRacing, Doom (TakeCover), Doom/<Scenario>, Atari/<Game>"""
    preset: str = "default"
    """size preset the config started from: smoke, default or paper"""
    seed: int = 0
    """seed for collection, data splits and training"""
    device: str = "auto"
    """torch device: auto (CUDA when present), cpu or cuda"""
    collect: CollectConfig = field(default_factory=CollectConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    mdnrnn: MDNRNNConfig = field(default_factory=MDNRNNConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        data = dict(data)
        sections = {f.name: f.type for f in fields(cls) if f.name in _SECTIONS}
        kwargs = {k: v for k, v in data.items() if k not in sections}
        unknown = set(kwargs) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"config has unknown fields: {sorted(unknown)}")
        for name in sections:
            section_cls = _SECTIONS[name]
            values = data.get(name, {})
            bad = set(values) - {f.name for f in fields(section_cls)}
            if bad:
                raise ValueError(f"config section '{name}' has unknown fields: {sorted(bad)}")
            kwargs[name] = section_cls(**values)
        return cls(**kwargs)


_SECTIONS: dict[str, type] = {
    "collect": CollectConfig, "vae": VAEConfig, "mdnrnn": MDNRNNConfig,
    "controller": ControllerConfig, "evaluate": EvaluateConfig,
}


def game_defaults(env_family: str) -> dict[str, dict[str, Any]]:
    """The paper's per-game sizes, applied where a field is left at 0."""
    if env_family == "doom":
        return {"vae": {"z_dim": 64}, "mdnrnn": {"hidden": 512}}
    return {"vae": {"z_dim": 32}, "mdnrnn": {"hidden": 256}}


def make_config(env: str, preset: str = "default", **top_level: Any) -> Config:
    """Build the config for `env` from a preset; game-specific zeros are filled in by `resolve`."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset '{preset}'; known: {', '.join(PRESETS)}")
    cfg = Config(env=env, preset=preset, **top_level)
    if preset == "smoke":
        cfg.collect = CollectConfig(episodes=4, workers=2, max_steps=60)
        cfg.vae = VAEConfig(z_dim=8, channels=8, epochs=1, batch_size=32, buffer_episodes=4, val_fraction=0.25)
        cfg.mdnrnn = MDNRNNConfig(hidden=32, seq_len=16, batch_size=4, steps=30, eval_every=15, val_fraction=0.25)
        cfg.controller = ControllerConfig(population=8, rollouts=2, generations=3, eval_every=2, eval_episodes=8,
                                          max_steps=100)
        cfg.evaluate = EvaluateConfig(episodes=4)
    elif preset == "paper":
        cfg.collect = CollectConfig(episodes=10_000)
        cfg.vae = VAEConfig(epochs=10)
        cfg.mdnrnn = MDNRNNConfig(
            seq_len=500 if env.lower().startswith("doom") else 999, batch_size=100, steps=20_000
        )
    return cfg


def resolve(cfg: Config, env_family: str) -> Config:
    """Fill fields left at 0 with the paper's value for this game."""
    for section, values in game_defaults(env_family).items():
        sub = getattr(cfg, section)
        for name, value in values.items():
            if getattr(sub, name) == 0:
                setattr(sub, name, value)
    return cfg


def add_override_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--section.field VALUE` for every field of every section (e.g. `--vae.epochs 5`)."""
    group = parser.add_argument_group("config overrides (any field of any section)")
    for section, section_cls in _SECTIONS.items():
        for f in fields(section_cls):
            group.add_argument(
                f"--{section}.{f.name}",
                dest=f"override:{section}.{f.name}",
                type=_field_type(section_cls, f.name),
                default=None,
                metavar=f.type.upper() if isinstance(f.type, str) else None,
                help=_field_docs(section_cls).get(f.name, ""),
            )


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The `--section.field` values the user actually gave, as {'section.field': value}."""
    return {
        key.split(":", 1)[1]: value
        for key, value in vars(args).items()
        if key.startswith("override:") and value is not None
    }


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    for dotted, value in overrides.items():
        section, name = dotted.split(".", 1)
        sub = getattr(cfg, section)
        if not hasattr(sub, name):
            raise ValueError(f"unknown config field '{dotted}'")
        setattr(sub, name, value)
    return cfg


def _field_type(section_cls: type, name: str):
    annotation = {f.name: f.type for f in fields(section_cls)}[name]
    return {"int": int, "float": float, "str": str, "bool": _parse_bool}.get(str(annotation), str)


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got '{text}'")


@functools.cache
def _field_docs(section_cls: type) -> dict[str, str]:
    """The docstrings under dataclass fields (read from the source, like CleanRL's Args)."""
    body = ast.parse(inspect.getsource(section_cls)).body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr):
            if isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = nxt.value.value
    return docs
