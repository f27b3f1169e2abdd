#!/usr/bin/env bash
# The `tokenctl scan` benchmark (issue 24): scan throughput of tokenctl
# against GNU grep with the same pattern, over the same files, warm cache:
#
#   tokenctl scan DIR
#   grep -P -o -r '(?<![A-Za-z0-9_])dpt_[A-Za-z0-9]{49}(?![A-Za-z0-9_])' DIR
#
# bench/scan_corpus writes ~1 GiB (--smoke: 4 MiB) of source-like files with
# real values and look-alikes. The runs alternate, after one warm-up run
# each; the figure is the median of 3 (--smoke: 1). The answers are checked:
# tokenctl must find exactly the real values, grep the real values plus the
# standalone bad-checksum look-alikes (it cannot check a CRC32); a wrong count
# fails the run.
#
#   bench/scan_bench.sh --bin DIR [--smoke] [--work DIR] [--section FILE]
#       [--splice DOC]
#
# run_bench.sh calls it (so `make bench` and bench_smoke_test run it). Prints
# the table on stdout.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

work="" section="" splice=""
parse_args "work section splice" "$@"
need_binaries bench/scan_corpus cli/tokenctl

if [ "$smoke" = 1 ]; then
  files=4; file_bytes=$((1 << 20)); reps=1
else
  files=256; file_bytes=$((4 << 20)); reps=3
fi
[ -n "$work" ] || work="${TEST_TMPDIR:-$(mktemp -d)}/scan"
new_work
pattern='(?<![A-Za-z0-9_])dpt_[A-Za-z0-9]{49}(?![A-Za-z0-9_])'

log "writing $files files of $file_bytes bytes (scan_corpus)"
line=$("$bin/bench/scan_corpus" --dir="$work" --files="$files" --file_bytes="$file_bytes" | grep '^RESULT')
bytes=$(field bytes "$line"); values=$(field values "$line")
bad=$(field bad_checksum "$line"); embedded=$(field embedded "$line")
log "corpus: $line"
cat "$work"/src*/* >/dev/null  # warm the page cache

now_ns() { date +%s%N; }

# run NAME: one timed run; prints "seconds count" and fails on a count that is
# not the expected one. tokenctl exits 1 (found), grep 0 (matched).
run() {
  local name="$1" t0 t1 count want
  t0=$(now_ns)
  if [ "$name" = tokenctl ]; then
    count=$({ "$bin/cli/tokenctl" scan "$work" 2>/dev/null || [ $? = 1 ]; } | wc -l)
    want=$values
  else
    count=$(grep -P -o -r "$pattern" "$work" | wc -l)
    want=$((values + bad))
  fi
  t1=$(now_ns)
  [ "$count" = "$want" ] || { echo "$name found $count, expected $want" >&2; exit 1; }
  awk "BEGIN { print ($t1 - $t0) / 1e9, $count }"
}

run tokenctl >/dev/null; run grep >/dev/null
ts=(); gs=()
for _ in $(seq 1 "$reps"); do
  read -r s count <<<"$(run tokenctl)"; ts+=("$s")
  read -r s count <<<"$(run grep)"; gs+=("$s")
done
log "tokenctl scan: ${ts[*]} s; grep -P: ${gs[*]} s"
t=$(median "${ts[@]}"); g=$(median "${gs[@]}")
record scan_s "$t"; record grep_s "$g"
whole() { awk "BEGIN { printf \"%.0f\", $* }"; }
record scan_mib_s "$(whole "$bytes / 1048576 / $t")"
record grep_mib_s "$(whole "$bytes / 1048576 / $g")"
ratio=$(calc "$g / $t")
mib=$(whole "$bytes / 1048576")

table=$(cat <<EOT
| figure | target | measured | reference (same run) | ratio | verdict |
|---|---|---|---|---|---|
| \`tokenctl scan\` throughput, $files files, $mib MiB, warm cache | ≥ 1 × grep | $(v scan_mib_s) MiB/s ($t s) | \`grep -P -o -r\` $(v grep_mib_s) MiB/s ($g s) | $ratio | $(ok "$ratio >= 1") |
EOT
)
show_table "$table"
check_numbers
end_smoke "scan bench smoke: tokenctl scan and grep produced numbers and the right counts"

[ -n "$section" ] || section="$work/section.md"
commit=$(short_commit "$(dirname "$0")")
{
  cat <<EOT
<!-- scan_bench begin: written by bench/scan_bench.sh (make bench) -->
## \`tokenctl scan\` against grep (issue 24)

Measured by \`bench/scan_bench.sh\` (\`$command_line\`), $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit.
$files files ($mib MiB) of source-like lines written by \`bench/scan_corpus\`, with $values real
values, $bad standalone look-alikes with a bad checksum and $embedded real values inside longer
base62 runs. Both read the same files from a warm page cache, output to a pipe; runs alternate
after one warm-up run each; medians of $reps runs. The reference is
\`grep -P -o -r '$pattern'\` (GNU grep $(grep --version | head -1 | awk '{print $NF}')), the same
pattern without the checksum. Every run's count was checked: tokenctl found exactly the $values
real values, grep those plus the $bad bad-checksum look-alikes; neither found an embedded one.

$table

tokenctl: ${ts[*]} s; grep: ${gs[*]} s.
<!-- scan_bench end -->
EOT
} >"$section"

if [ -n "$splice" ]; then
  splice_section scan_bench "$section" "$splice"
fi
