"""Write the CMA-ES search distribution's mean at one generation as a controller checkpoint.

    python scripts/export_controller.py --run-dir DIR --generation G --out C.pt [--from FOLDER]
    python scripts/evaluate.py --run-dir DIR --controller C.pt

The mean is rebuilt by replaying the folder's cmaes.jsonl (default: the run's controller/; a
kept round's is controller_roundN/), so any generation can be looked at, not only the one the
periodic evaluation kept. The controller's layout and temperature come from the checkpoint that
training wrote beside that log.
"""
import argparse
from pathlib import Path

from worldsim.apps.cli import run_main


def main() -> int:
    from agents.cmaes import distribution_mean
    from agents.controller_training import initial_params
    from agents.controller import load_controller, save_controller
    from worldsim.run import RunDir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--generation", type=int, required=True, help="0-based CMA-ES generation")
    parser.add_argument("--out", type=Path, required=True, help="controller checkpoint to write")
    parser.add_argument("--from", dest="folder", type=Path,
                        help="folder holding cmaes.jsonl (default: the run's controller/)")
    args = parser.parse_args()
    run = RunDir(args.run_dir)
    cfg = run.load_config()
    folder, checkpoint = run.controller_files()
    if args.folder is not None:
        folder, checkpoint = args.folder, args.folder / "controller.pt"
    if not checkpoint.is_file():
        raise FileNotFoundError(f"{checkpoint} is missing: the controller layout is read from it "
                                "(run the controller stage first)")
    spec, _, meta = load_controller(checkpoint, env=cfg.env)
    cfg.controller.init = meta.get("init", "")  # where that search started
    params = distribution_mean(folder / "cmaes.jsonl", spec.num_params, cfg.controller, cfg.seed, args.generation,
                               x0=initial_params(cfg, spec))
    save_controller(args.out, cfg.env, spec, params,
                    {**{k: meta[k] for k in ("temperature", "trained_in", "dream") if k in meta},
                     "generation": args.generation, "eval_of": "mean", "exported_from": str(folder)})
    print(f"{args.out}: the CMA-ES mean after generation {args.generation} of {folder}")
    return 0


if __name__ == "__main__":
    run_main(main)
