#!/usr/bin/env bash
# Creates (idempotently) the Python venv with the pinned ezdxf that the pattern tests use to
# read DXF-AAMA files back. Location: $PATTERN_EZDXF_VENV, default target/venvs/ezdxf
# (relative to the repository root).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PATTERN_EZDXF_VENV:-$root/target/venvs/ezdxf}"
bash "$root/tools/venv_setup.sh" "$venv" "$root/tools/pattern_requirements.txt"
"$venv/bin/python" -c 'import ezdxf; print("pattern: ezdxf", ezdxf.__version__, "ready in '"$venv"'")'
