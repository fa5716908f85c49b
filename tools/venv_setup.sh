#!/usr/bin/env bash
# Creates (idempotently) a Python venv with pinned reference tools for the tests.
# Usage: tools/venv_setup.sh VENV_DIR REQUIREMENTS_FILE
# The venv is rebuilt when the requirements file changes (its sha256 is kept in the venv).
set -euo pipefail
venv="$1"
req="$2"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "venv up to date at $venv"
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
echo "venv ready at $venv ($req)"
