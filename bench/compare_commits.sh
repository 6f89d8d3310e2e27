#!/usr/bin/env bash
# Before against after on one machine: bench/batches.py, then bench/finetune.py, alternating a
# commit's code (checked out in a temporary worktree) with the work tree's, twice each; the logs go
# to OUT (default /tmp/compare_commits), one per run, for bench/RESULTS.md.
#
#   bash bench/compare_commits.sh 5340000            # that commit against the work tree
#   PYTHON=.venv/bin/python bash bench/compare_commits.sh 5340000 /tmp/ab
set -euo pipefail
old=${1:?usage: bench/compare_commits.sh COMMIT [OUT]}
out=${2:-/tmp/compare_commits}
repo="$(cd "$(dirname "$0")/.." && pwd)"
python=${PYTHON:-$repo/.venv/bin/python}
before=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$before" 2>/dev/null || true' EXIT
git -C "$repo" worktree add -q --detach "$before" "$old"
mkdir -p "$out"
run() {  # run SCRIPT SIDE N ARGS...: one benchmark on one side's code, with that side's scripts
  local script=$1 side=$2 n=$3 dir
  shift 3
  dir=$repo; [ "$side" = before ] && dir=$before
  (cd "$dir" && PYTHONPATH="$dir" TF_CPP_MIN_LOG_LEVEL=3 "$python" "bench/$script.py" "$@") \
    >"$out/${script}_${side}_$n.log" 2>&1
  echo "$out/${script}_${side}_$n.log"
}
for n in 1 2; do for side in before after; do run batches $side $n --repeats 3; done; done
for n in 1 2; do for side in before after; do
  run finetune $side $n --repeats 1 --skip-inference --skip-naive
done; done
