"""Train M, the MDN-RNN, on the encoded episodes."""
from worldsim.apps.cli import pipeline_main, run_main

if __name__ == "__main__":
    run_main(lambda: pipeline_main(["mdnrnn"], __doc__))
