"""Main entry point: learn a world model of a game from scratch (or resume a run).

    python scripts/train_world_model.py --env Doom [--preset smoke|default|paper] [--run-dir DIR]
"""
from worldsim.cli import pipeline_main, run_main

if __name__ == "__main__":
    run_main(lambda: pipeline_main(None, __doc__.splitlines()[0]))
