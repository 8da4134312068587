#!/usr/bin/env bash
# Re-pin constraints.txt: install worldsim with its extras into a fresh virtual environment and
# record exactly what pip resolved. Run it from anywhere in the repository after changing the
# requirements in pyproject.toml (or to move to newer releases), then run the test suite.
#   TORCH=2.13.0 scripts/refresh_constraints.sh
set -euo pipefail
cd "$(dirname "$0")/.."
torch_version="${TORCH:-2.13.0}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python -m venv "$work/venv"
# torch first: where a CPU build of this version is at hand pip takes it instead of fetching the
# CUDA one; the pin drops the local "+cpu" tag, so on a GPU machine the same line brings CUDA.
"$work/venv/bin/python" -m pip install --quiet "torch==$torch_version"
"$work/venv/bin/python" -m pip install --quiet -e ".[test]"
{
  echo "# What a fresh install of worldsim and its test extra resolved to, pinned so every machine"
  echo "# installs the same versions (README: pip install -c constraints.txt -e \".[test]\")."
  echo "# pyproject.toml keeps ranges; refresh with scripts/refresh_constraints.sh."
  "$work/venv/bin/python" -m pip freeze --exclude-editable | sed -E 's/\+[A-Za-z0-9.]+$//' | grep -v '^#'
} > "$work/constraints.txt"
mv "$work/constraints.txt" constraints.txt
echo "constraints.txt: $(grep -c '==' constraints.txt) pins"
