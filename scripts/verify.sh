#!/usr/bin/env bash
# Checks the engine's protocol models (engine/model) exhaustively with spin; see its README:
# locks.pml, signals.pml and children.pml once, leases.pml once for each combination of two
# faults; then each known bug, put back, must be found. Each model is built into pan in a
# temporary folder; a search that finds an error keeps the folder and says where the trail is.
# Exits non-zero on any error, on a search cut short by its depth bound or by memory, and on a
# known bug that is not found.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/slate-verify.XXXXXX")
log() { echo "verify: $*" >&2; }

# Fault kinds of leases.pml, each a budget pan reads from its environment.
kinds=(CRASHES DROPS LAPSES LATE_CLAIMS LATE_STARTS SHUTDOWNS CANCELS REPLAYS)
# The known bugs, each with the model and the one fault it takes to find it.
bugs=(
  "leases BUG_RUNNING_BY_RUN DROPS"
  "leases BUG_HANDOFF_BY_RUN DROPS"
  "leases BUG_MEMO_UNLOCKED CANCELS"
  "locks BUG_CANCEL_RUN_FIRST -"
  "locks BUG_RELEASE_UNORDERED -"
  "signals BUG_PARK_SNAPSHOT -"
  "children BUG_WAKE_IN_HANDOFF -"
  "children BUG_NO_WAKE_AFTER_PARK -"
)

# build MODEL [BUG]: spin and gcc make pan in a folder of its own; prints the folder.
build() {
  local model=$1 bug=${2:-} dir opt=-O2
  dir="$work/$model${bug:+-$bug}"
  mkdir -p "$dir"
  cp "$root/engine/model/$model.pml" "$dir/"
  # A bug is found in well under a second: a quick build is the faster way there.
  if [ -n "$bug" ]; then opt=-O0; fi
  (cd "$dir" && spin ${bug:+-D$bug} -a "$model.pml" >/dev/null &&
    gcc "$opt" -DSAFETY -DCOLLAPSE -DMEMLIM=8000 -w -o pan pan.c)
  echo "$dir"
}

# search DIR LABEL [NAME=VALUE...]: runs pan in DIR with those budgets; prints its count of
# errors, after failing if the search was cut short.
search() {
  local dir=$1 label=$2 out
  shift 2
  out=$(cd "$dir" && env "$@" ./pan -m10000000 2>&1) || true
  if grep -q -e 'max search depth too small' -e 'out of memory' -e 'pan: reached -DMEMLIM' <<<"$out"; then
    log "$label: the search was cut short"
    echo "$out" >&2
    return 1
  fi
  local errors stored seconds
  errors=$(grep -o 'errors: [0-9]*' <<<"$out" | grep -o '[0-9]*$')
  stored=$(grep -o '[0-9]* states, stored' <<<"$out" | grep -o '^[0-9]*')
  seconds=$(grep -o 'elapsed time [0-9.]*' <<<"$out" | grep -o '[0-9.]*$')
  log "$label: $stored states, errors: $errors, ${seconds}s"
  [ "$errors" = 0 ] || grep -m1 '^pan:1:' <<<"$out" >&2
  echo "$errors"
}

# budgets KIND=N...: every fault budget of leases.pml, 0 unless given, and their total.
budgets() {
  local kind arg total=0 given
  for kind in "${kinds[@]}"; do
    given=0
    for arg in "$@"; do [ "${arg%=*}" = "$kind" ] && given=${arg#*=}; done
    echo "$kind=$given"
    total=$((total + given))
  done
  echo "FAULTS=$total"
}

# check MODEL: the model as it is, with no error.
check() {
  local model=$1 dir errors
  dir=$(build "$model")
  if [ "$model" != leases ]; then
    errors=$(search "$dir" "$model")
    [ "$errors" = 0 ] || { log "$model.pml: errors; the trail is in $dir"; return 1; }
    return 0
  fi
  local i j sets=()
  for ((i = 0; i < ${#kinds[@]}; i++)); do
    sets+=("${kinds[i]}=2")
    for ((j = i + 1; j < ${#kinds[@]}; j++)); do sets+=("${kinds[i]}=1 ${kinds[j]}=1"); done
  done
  for set in "${sets[@]}"; do
    # shellcheck disable=SC2086 # a set is words
    errors=$(search "$dir" "leases $set" $(budgets $set))
    [ "$errors" = 0 ] || { log "leases.pml ($set): errors; the trail is in $dir"; return 1; }
  done
}

# find MODEL BUG FAULT: the model with BUG put back must fail.
find_bug() {
  local model=$1 bug=$2 fault=$3 dir errors
  dir=$(build "$model" "$bug")
  if [ "$fault" = - ]; then
    errors=$(search "$dir" "$model $bug")
  else
    errors=$(search "$dir" "$model $bug, $fault=1" $(budgets "$fault=1"))
  fi
  [ "$errors" != 0 ] || { log "$model.pml with $bug: the bug was not found"; return 1; }
}

start=$(date +%s)
check locks
check signals
check children
check leases
for bug in "${bugs[@]}"; do
  # shellcheck disable=SC2086 # a line is words
  find_bug $bug
done
rm -rf "$work"
log "the models hold, and each known bug is found ($(($(date +%s) - start)) s)"
