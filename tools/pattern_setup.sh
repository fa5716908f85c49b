#!/usr/bin/env bash
# Creates (idempotently) the Python venv with the pinned ezdxf that the pattern tests use to
# read DXF-AAMA files back. Location: $PATTERN_EZDXF_VENV, default target/venvs/ezdxf
# (relative to the repository root).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PATTERN_EZDXF_VENV:-$root/target/venvs/ezdxf}"
req="$root/tools/pattern_requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "pattern: ezdxf venv up to date at $venv"
    exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
"$venv/bin/python" -c 'import ezdxf; print("pattern: ezdxf", ezdxf.__version__, "ready in '"$venv"'")'
