#!/usr/bin/env bash
# Training verification (the user guide's `bash tests/test_train_mappo.sh`, run from
# case_studies/power as its Quick Start says; the repository root has a forwarder).
#
# Runs the documented quick start, `examples/05_mappo_training.py --test`, end to end
# with the repository's virtual environment, then checks that the run folder holds
# what a user needs: metrics.csv with one row per iteration, a final checkpoint
# (heron_policy.json + RLModule weights) and learning_curve.png, and that every
# iteration trained on real samples (no "no new samples" warning, env steps rising).
#
#   bash tests/test_train_mappo.sh [OUT_DIR]     # from anywhere; OUT_DIR default: a new temp dir
#   HERON_TRAIN_SMOKE=1 bash tests/test_train_mappo.sh   # 1 iteration, tiny batch (the pytest smoke)
#   PYTHON=/path/to/python bash tests/test_train_mappo.sh
#
# Exit status 0 and a final "PASS" line when everything is there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"

PY="${PYTHON:-}"
if [[ -z "$PY" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PY="$ROOT/.venv/bin/python"; else PY="python3"; fi
fi

OUT="${1:-}"
[[ -n "$OUT" ]] || OUT="$(mktemp -d "${TMPDIR:-/tmp}/heron-train-mappo.XXXXXX")"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"   # absolute: training runs in case_studies/power
LOG="$OUT/train.log"

ARGS=(--test --checkpoint-dir "$OUT")
ITERATIONS=3
if [[ "${HERON_TRAIN_SMOKE:-0}" == "1" ]]; then
    # Same pipeline, smallest real training: one iteration on 48 env steps (two days).
    ARGS+=(--iterations 1 --train-batch-size 48 --minibatch-size 24 --num-epochs 1)
    ITERATIONS=1
fi

fail() { echo "FAIL: $*" >&2; echo "--- last lines of $LOG ---" >&2; tail -n 40 "$LOG" >&2 || true; exit 1; }

echo "[test_train_mappo] python: $PY"
echo "[test_train_mappo] run: examples/05_mappo_training.py ${ARGS[*]}"
START=$(date +%s)
( cd case_studies/power && "$PY" examples/05_mappo_training.py "${ARGS[@]}" ) >"$LOG" 2>&1 \
    || fail "training exited with status $?"
ELAPSED=$(( $(date +%s) - START ))

RUN_DIR="$(sed -n 's/^Run folder: //p' "$LOG" | tail -n 1)"
[[ -n "$RUN_DIR" && -d "$RUN_DIR" ]] || fail "no 'Run folder:' line in the output"

[[ -s "$RUN_DIR/metrics.csv" ]] || fail "$RUN_DIR/metrics.csv missing"
ROWS=$(( $(wc -l < "$RUN_DIR/metrics.csv") - 1 ))
[[ "$ROWS" -eq "$ITERATIONS" ]] || fail "metrics.csv has $ROWS rows, expected $ITERATIONS"
CKPT="$RUN_DIR/checkpoints/final"
[[ -f "$CKPT/heron_policy.json" ]] || fail "no checkpoint: $CKPT/heron_policy.json missing"
[[ -d "$CKPT/learner_group" ]] || fail "checkpoint $CKPT has no learner_group (RLModule weights)"
[[ -s "$RUN_DIR/learning_curve.png" ]] || fail "$RUN_DIR/learning_curve.png missing"
if grep -qi "no new samples\|no samples returned" "$LOG"; then
    fail "an iteration reported no samples"
fi
# env steps must rise every iteration: each one trained on fresh samples
"$PY" - "$RUN_DIR/metrics.csv" <<'EOF' || fail "env steps did not rise every iteration"
import csv, sys
steps = [float(r["env_steps"]) for r in csv.DictReader(open(sys.argv[1]))]
prev = 0.0
for s in steps:
    assert s > prev, steps
    prev = s
print(f"[test_train_mappo] env steps per iteration: {steps}")
EOF

echo "[test_train_mappo] run folder: $RUN_DIR"
echo "[test_train_mappo] training took ${ELAPSED}s"
echo "PASS"
