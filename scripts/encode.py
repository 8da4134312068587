"""Encode every episode with V into RUN_DIR/latents."""
from worldsim.apps.cli import pipeline_main, run_main

if __name__ == "__main__":
    run_main(lambda: pipeline_main(["encode"], __doc__))
