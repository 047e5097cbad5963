#!/usr/bin/env python3
"""Run Rapid7's published InsightConnect plugin validators on this plugin, offline.

Usage: validate_offline.py PLUGIN_DIR

Needs the PyPI package `insightconnect-integrations-validators`. Validators that would ask the
public extension catalogue over the network get a "not published" answer (and the keyword
catalogue an empty page), so they judge the local files only. Prints PASS/FAIL per validator and a summary; exits 1 if any failed, except
DockerfileParentValidator, which only accepts Rapid7's Python base images (see README).
"""
import sys
import types

import requests

EXPECTED_TO_FAIL = {"DockerfileParentValidator"}


def offline_get(*args, **kwargs):
    url = kwargs.get("url") or (args[0] if args else "")
    if "/public/tags" in url:
        # UnapprovedKeywordsValidator pages through the keyword catalogue; an empty last page
        # lets it run (it then only warns that keywords are not in the catalogue it got).
        body = {"results": [], "pageInfo": {"hasNextPage": False}}
        return types.SimpleNamespace(status_code=200, json=lambda: body, text="")
    return types.SimpleNamespace(status_code=404, json=lambda: {}, text="")


requests.get = offline_get  # no network: every extension lookup answers "not published"

from icon_plugin_spec.plugin_spec import KomandPluginSpec  # noqa: E402
from icon_validator.exceptions import ValidationException  # noqa: E402
from icon_validator.rules import VALIDATORS  # noqa: E402


def main() -> int:
    spec = KomandPluginSpec(sys.argv[1] if len(sys.argv) > 1 else ".", "plugin.spec.yaml")
    failed = []
    for v in VALIDATORS:
        name = type(v).__name__
        try:
            v.validate(spec)
            print(f"PASS  {name}")
        except ValidationException as e:
            print(f"FAIL  {name}: {str(e).strip()[:1500]}")
            failed.append(name)
        except Exception as e:  # a validator crashing on our files is a failure too
            print(f"ERROR {name}: {type(e).__name__}: {str(e)[:600]}")
            failed.append(name)
    unexpected = [n for n in failed if n not in EXPECTED_TO_FAIL]
    print(f"{len(VALIDATORS) - len(failed)} passed, {len(failed)} failed ({', '.join(failed) or 'none'}); unexpected failures: {len(unexpected)}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
