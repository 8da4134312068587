"""Forking a run: a new run directory that links to another run's recorded episodes (and, if
asked, its trained V and M) instead of recording and training them again, so a different M, C
or GameGAN can be tried on the same data. scripts/fork_run.py is its command line."""
from __future__ import annotations

import os

from worldsim.config import apply_overrides
from worldsim.data.episodes import list_episodes
from worldsim.io import write_json
from worldsim.run import RunDir, RunDirError

SHAREABLE = {"vae": ("vae_checkpoint", ("collect", "vae", "encode")), "mdnrnn": ("mdnrnn_checkpoint", ("mdnrnn",))}
"""model -> (its checkpoint's RunDir attribute, report stages that sharing it completes)"""


def fork(source: RunDir, target: RunDir, share: list[str], overrides: dict, seed: int | None = None) -> RunDir:
    """Make `target` a new run that links to `source`'s episodes, latents and the `share`d
    checkpoints, with the source's config under `overrides` and, where given, another `seed`
    (see scripts/fork_run.py)."""
    if not source.exists():
        raise RunDirError(f"{source.root}: not a worldsim run directory (no config.json)")
    if target.root.exists() and any(target.root.iterdir()):
        raise RunDirError(f"{target.root} exists and is not empty; fork into a new directory")
    for name in share:
        if name not in SHAREABLE:
            raise ValueError(f"cannot share '{name}'; shareable: {', '.join(SHAREABLE)}")
        if not getattr(source, SHAREABLE[name][0]).is_file():
            raise RunDirError(f"{source.root} has no trained {name} ({getattr(source, SHAREABLE[name][0])})")
    if "mdnrnn" in share and "vae" not in share:
        raise ValueError("an M reads its own V's z: --share mdnrnn needs --share vae mdnrnn")
    if "vae" in share and any(key.startswith("vae.") for key in overrides):
        raise ValueError(f"{sorted(k for k in overrides if k.startswith('vae.'))} would not act on a shared V; "
                         "fork with --share and no names to train a new V")
    cfg = apply_overrides(source.load_config(), overrides)
    if seed is not None:
        cfg.seed = seed
    recorded = list_episodes(source.episodes) if source.episodes.is_dir() else []
    grow = cfg.collect.episodes > len(recorded)
    target.checkpoints.mkdir(parents=True)
    folders = {target.episodes: source.episodes}
    if "vae" in share:  # a V of the fork's own encodes into the fork's own latents, not the source's
        folders[target.latents] = source.latents
    links = {getattr(target, SHAREABLE[n][0]): getattr(source, SHAREABLE[n][0]) for n in share}
    if grow:  # file by file, so the fork can add episodes and latents without touching the source's
        for own, theirs in folders.items():
            own.mkdir()
            links.update({own / path.name: path for path in list_episodes(theirs)} if theirs.is_dir() else {})
    else:
        links.update(folders)
    for link, real in links.items():
        if real.exists():
            os.symlink(os.path.relpath(real.resolve(), link.parent.resolve()), link)
    stages = {"collect"} | {s for n in share for s in SHAREABLE[n][1]}
    if grow:
        stages -= {"collect", "encode"}
    if "mdnrnn" in share and cfg.mdnrnn.steps > source.load_config().mdnrnn.steps:
        stages -= {"mdnrnn"}  # the mdnrnn stage resumes from the shared M and trains it further
    shared = {k: {**v, "shared_from": str(source.root)} for k, v in source.report()["stages"].items() if k in stages}
    target.open(cfg)
    write_json(target.report_path, {"stages": shared, "forked_from": str(source.root)})
    return target
