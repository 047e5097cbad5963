#!/usr/bin/env bash
# Rapid7's plugin validators (PyPI insightconnect-integrations-validators), in a throwaway
# virtualenv, run offline by scripts/validate_offline.py. Every validator must pass except
# DockerfileParentValidator, which only accepts Rapid7's Python base images (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VALIDATOR_VENV:-${TMPDIR:-/tmp}/icon_haloitsm-validators}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check insightconnect-integrations-validators
fi

# The validators see a plain copy of the working tree, not the git checkout: VersionBumpValidator
# compares against origin/master of Rapid7's monorepo when it finds a git repository, which a
# clone of this repository does not have; on a plain folder it judges the version as a first release.
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$copy"
else
  tar --exclude=./target --exclude='*.plg' -cf - . | tar -xf - -C "$copy"
fi

"$venv/bin/python" scripts/validate_offline.py "$copy"
