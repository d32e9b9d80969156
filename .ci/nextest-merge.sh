#!/usr/bin/env bash
# A cycle whose two halves are two tests, each run by cargo-nextest in a
# process of its own, is found by `cargo lockdep merge` over their records
# (crates/cargo-lockdep/tests/merge.rs: half_transfer and half_report).
set -euo pipefail
cd "$(dirname "$0")/.."

dir="$PWD/target/lockdep-nextest-records"
rm -rf "$dir"
LOCKDEP_RECORD="$dir" LOCKDEP_ACTION=print cargo nextest run -p cargo-lockdep --test merge \
    --run-ignored only -E 'test(=half_transfer) | test(=half_report)' --no-fail-fast
cargo build -p cargo-lockdep --bin cargo-lockdep

records=$(find "$dir" -name '*.jsonl' | wc -l)
if [ "$records" -ne 2 ]; then
    echo "expected 2 records (one per test process), found $records" >&2
    exit 1
fi

set +e
out=$(target/debug/cargo-lockdep lockdep merge "$dir")
code=$?
set -e
echo "$out"
if [ "$code" -ne 1 ]; then
    echo "cargo lockdep merge: expected exit 1 (a cycle), got $code" >&2
    exit 1
fi
for test in half_transfer half_report; do
    if ! grep -q "learned by test $test (binary cargo-lockdep::merge, pid " <<<"$out"; then
        echo "the merged report does not name $test" >&2
        exit 1
    fi
done
grep -q '1 cycle(s) (1 across processes)' <<<"$out"
echo "nextest + merge: the cross-process cycle was found"
