#!/usr/bin/env bash
# A short cargo-fuzz run of each parser the property tests cover: the start message, step inputs
# and connections against the spec, webhook deliveries, Prowler OCSF files. Needs a nightly
# toolchain; without one it says so and stops (REQUIRE_FUZZ=1 makes that an error). Installs
# cargo-fuzz into $TOOLS on first use. FUZZ_SECONDS per target (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${FUZZ_SECONDS:-20}"
tools="${TOOLS:-${TMPDIR:-/tmp}/icon_haloitsm-tools}"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: no nightly toolchain here (rustup toolchain install nightly); skipped"
  [ "${REQUIRE_FUZZ:-0}" = 1 ] && exit 1
  exit 0
fi
export PATH="$tools/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --quiet --locked cargo-fuzz --version 0.13.2 --root "$tools"
fi

# Seeds: the sample start message and input of every step, a connection, a few deliveries and
# the example Prowler files. The corpus grows under target/fuzz-corpus from run to run.
seeds=target/fuzz-seeds
rm -rf "$seeds" && mkdir -p "$seeds"/{start_message,step_input,webhook_delivery,ocsf}
cargo build --quiet --locked --bin icon_haloitsm
python3 - target/debug/icon_haloitsm "$seeds" <<'PY'
import json, pathlib, subprocess, sys
bin, seeds = sys.argv[1], pathlib.Path(sys.argv[2])
info = subprocess.run([bin, "info"], check=True, capture_output=True, text=True).stdout
steps = [l.split("└── ", 1)[1].split(" ", 1)[0] for l in info.splitlines() if "└── " in l]
for name in steps:
    msg = json.loads(subprocess.run([bin, "sample", name], check=True, capture_output=True, text=True).stdout)
    (seeds / "start_message" / f"{name}.json").write_text(json.dumps(msg))
    (seeds / "step_input" / name).write_text(name + "\n" + json.dumps(msg["body"].get("input", {})))
    (seeds / "step_input" / "connection").write_text("connection\n" + json.dumps(msg["body"].get("connection", {})))
deliveries = [
    {"id": "d1", "event": "New Ticket Logged", "object_id": 101, "ticket": {"id": 101, "status_id": 1, "lastactiondate": "2026-01-01T10:00:00.123Z"}},
    {"id": "d2", "event": "Ticket Updated", "ticket": {"id": "102", "status_id": 2}, "agent_id": 3},
    [{"object_id": 5}, {"object_id": -1}, "x", {"ticket": {}}],
]
for i, d in enumerate(deliveries):
    (seeds / "webhook_delivery" / f"{i}.json").write_text(json.dumps(d))
PY
cp testdata/prowler/*.json "$seeds/ocsf/"

mkdir -p target/fuzz-logs
for target in start_message step_input webhook_delivery ocsf; do
  echo "== fuzz $target for ${secs}s"
  mkdir -p "target/fuzz-corpus/$target"
  log="target/fuzz-logs/$target.log"
  if ! cargo +nightly fuzz run --fuzz-dir fuzz "$target" "target/fuzz-corpus/$target" "$seeds/$target" -- \
      -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target found an input that fails (saved under fuzz/artifacts/$target; full log $log)" >&2
    exit 1
  fi
  grep -E "^Done|stat::number_of_executed_units|stat::new_units_added" "$log" || true
done
