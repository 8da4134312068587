"""Start a new run directory that shares another run's recorded episodes (and, if asked, its
trained V and M), so a different M, C or GameGAN can be tried on the same data without
recording or training it again. Shared parts are symbolic links, nothing is copied; the new
run gets the source's config with --section.field overrides applied, and the report entries of
the shared stages, so the pipeline skips them. Checkpoints are written atomically (a new file
replaces the link), so training in the fork never changes the source run. A fork that does not
share V (--share with no names) trains its own V and encodes into its own latents folder; --vae.*
overrides need that, since a shared V would ignore them.

When --collect.episodes asks for more episodes than the source recorded, the fork links each
episode and latent file on its own instead of the folders, and leaves collect and encode to
run: the fork records the missing episodes (on the game seeds that a run with that many
episodes from the start would use) and encodes only those with the shared V. Likewise, when
--share mdnrnn comes with a --mdnrnn.steps above the source's, the fork leaves the mdnrnn stage
to run: it resumes from the shared M (its weights and optimizer state) and trains it on to the
new step count under the fork's M settings (e.g. --mdnrnn.dropout), into the fork's own file.

    python scripts/fork_run.py --from runs/doom-default --to runs/doom-m512 --share vae \
        --mdnrnn.hidden 512 --mdnrnn.steps 8000 --controller.rollouts 16
    python scripts/train_world_model.py --run-dir runs/doom-m512 --stages mdnrnn controller evaluate
    python scripts/fork_run.py --from runs/doom-random2k --to runs/doom-random10k --share vae \
        --collect.episodes 10000
    python scripts/train_world_model.py --run-dir runs/doom-random10k
    python scripts/fork_run.py --from runs/breakout-life --to runs/breakout-life-s1 --share vae mdnrnn --seed 1
"""
from __future__ import annotations

import argparse
from pathlib import Path

from worldsim.apps.cli import run_main
from worldsim.apps.fork import SHAREABLE, fork
from worldsim.config import add_override_arguments, overrides_from_args
from worldsim.run import RunDir

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, required=True, help="the run to share from")
    parser.add_argument("--to", dest="target", type=Path, required=True, help="the new run directory")
    parser.add_argument("--share", nargs="*", default=["vae"], choices=list(SHAREABLE),
                        help="trained models to link as well as the episodes (default: vae)")
    parser.add_argument("--seed", type=int, default=None,
                        help="the fork's seed (default: the source's): what the fork trains or records draws "
                             "from it (C's CMA-ES and dream rollouts, M's batches, new episodes); shared parts keep theirs")
    add_override_arguments(parser)
    args = parser.parse_args()
    target = fork(RunDir(args.source), RunDir(args.target), args.share, overrides_from_args(args), args.seed)
    shared = ["episodes", *(["latents"] if "vae" in args.share else []), *args.share]
    print(f"{target.root}: shares {', '.join(shared)} with {args.source}")
    if not target.stage_complete("collect"):
        print(f"{target.root}: will record episodes up to --collect.episodes "
              f"{target.load_config().collect.episodes} and encode the new ones")
    if "mdnrnn" in args.share and not target.stage_complete("mdnrnn"):
        print(f"{target.root}: will train the shared M on to --mdnrnn.steps {target.load_config().mdnrnn.steps}")
    return 0


if __name__ == "__main__":
    run_main(main)
