"""Main entry point: learn a world model of a game from scratch (or resume a run).

    python scripts/train_world_model.py --env Doom [--preset smoke|default|paper] [--run-dir DIR]
        [--world-model vm|gamegan|both] [--stages STAGE ...]

--world-model vm (default): collect, vae, encode, mdnrnn, controller, evaluate.
--world-model gamegan: collect, vae, encode, mdnrnn, gamegan, controller_gamegan, evaluate_gamegan
(V and M still give GameGAN's dream the controller's [z, h], episode ends and rewards).
--world-model both: all of them.
"""
from worldsim.apps.cli import pipeline_main, run_main

if __name__ == "__main__":
    run_main(lambda: pipeline_main(None, __doc__.splitlines()[0]))
