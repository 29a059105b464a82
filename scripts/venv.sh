#!/usr/bin/env bash
# Makes the git-ignored Python virtualenv .venv and installs the pinned packages given
# (for example schemathesis==4.32.5) that it does not have yet. Prints nothing when all are there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=$root/.venv
[ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
missing=()
for package in "$@"; do
  "$venv/bin/pip" show "${package%%==*}" 2>/dev/null | grep -qx "Version: ${package#*==}" \
    || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "venv: installing ${missing[*]} in .venv" >&2
"$venv/bin/pip" install -q --disable-pip-version-check "${missing[@]}"
