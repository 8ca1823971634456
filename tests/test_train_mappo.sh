#!/usr/bin/env bash
# Forwarder: the training verification lives with the case study
# (case_studies/power/tests/test_train_mappo.sh, as the user guide runs it from there).
exec bash "$(dirname "${BASH_SOURCE[0]}")/../case_studies/power/tests/test_train_mappo.sh" "$@"
