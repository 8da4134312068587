"""Record real-game episodes with the exploration policy into RUN_DIR/episodes."""
from worldsim.apps.cli import pipeline_main, run_main

if __name__ == "__main__":
    run_main(lambda: pipeline_main(["collect"], __doc__))
