#!/usr/bin/env bash
# Installs the real clients the client tests drive (tests/clients.rs), pinned, in a throwaway
# directory outside the repository: the AWS SDK for JavaScript v3 and Claude Code from npm (Claude
# Code is a native binary of about 400 MB, shipped inside its npm package), boto3 from PyPI.
# Idempotent: a second run with the same pins does nothing. Used by .ci/run and by the tests.
#
#   tests/clients/install.sh [DIR]     # default: $BEDROCK_GUARD_CLIENTS_DIR or $TMPDIR/bedrock-guard-clients
set -euo pipefail

JS_PACKAGES="@aws-sdk/client-bedrock-runtime@3.1164.0 @anthropic-ai/claude-code@2.1.332"
PY_PACKAGES="boto3==1.44.8"

dir="${1:-${BEDROCK_GUARD_CLIENTS_DIR:-${TMPDIR:-/tmp}/bedrock-guard-clients}}"
mkdir -p "$dir"
stamp="$dir/installed"
want="js=$JS_PACKAGES py=$PY_PACKAGES"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

exec 9>"$dir/.lock"
flock 9   # test binaries may call this concurrently
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi

mkdir -p "$dir/js"
[[ -f "$dir/js/package.json" ]] || echo '{"private": true, "type": "module"}' >"$dir/js/package.json"
# shellcheck disable=SC2086
npm install --prefix "$dir/js" --no-audit --no-fund --loglevel=error $JS_PACKAGES >&2

python3 -m venv "$dir/py"
# shellcheck disable=SC2086
"$dir/py/bin/pip" install --quiet --disable-pip-version-check $PY_PACKAGES >&2

echo "$want" >"$stamp"
