#!/usr/bin/env bash
# Whole-process figures for `cordon run` (issue 5), each against a baseline
# measured in the same run, inside two network namespaces this script makes
# (LAB, where the commands run, and OUT, the "outside" host, joined by a veth
# pair in 10.231.9.0/24) and deletes on exit. No packet leaves them.
#
#   sudo scripts/bench_sandbox.sh [CORDON] [MB]
#
#   1. start overhead: `cordon run -- true` against `true` (hyperfine, if installed;
#      else a loop of 100 runs each);
#   2. download of an MB-megabyte file (default 200) from `python3 -m http.server`
#      in OUT, curl in LAB, directly and through `cordon run` (its proxy): one
#      warm-up of each, then PAIRS (default 7) interleaved pairs whose order
#      alternates (direct first, then cordon first), so drift on a noisy machine
#      falls on both sides; median throughput of each side and their ratio, and
#      the median of the per-pair ratios. Both sides are curl's own figure
#      (bytes / transfer time), so the start of `cordon run` is not in it; the
#      proxy's per-connection work (policy, upstream connect, finding the client
#      process) is, as it delays the first byte.
set -euo pipefail
cordon="$(realpath "${1:-target/release/cordon}")"
mb="${2:-200}"
[ "$(id -u)" = 0 ] || { echo "bench_sandbox: needs root (network namespaces)" >&2; exit 2; }
[ -x "$cordon" ] || { echo "bench_sandbox: no cordon binary at $cordon" >&2; exit 2; }

lab="cbench-lab-$$"; out="cbench-out-$$"; work="$(mktemp -d)"
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
  ip netns del "$lab" 2>/dev/null || true
  ip netns del "$out" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$lab"; ip netns add "$out"
ip link add "vl$$" type veth peer name "vo$$"
ip link set "vl$$" netns "$lab"; ip link set "vo$$" netns "$out"
ip -n "$lab" addr add 10.231.9.1/24 dev "vl$$"; ip -n "$out" addr add 10.231.9.2/24 dev "vo$$"
for ns in "$lab" "$out"; do ip -n "$ns" link set lo up; done
ip -n "$lab" link set "vl$$" up; ip -n "$out" link set "vo$$" up

mkdir -p "$work/www" "$work/ws"
head -c "$((mb * 1024 * 1024))" /dev/urandom > "$work/www/big.bin"
cat > "$work/policy.toml" <<'EOF'
[sandbox]
allow = ["10.231.9.2"]
ports = [8000]
EOF
ip netns exec "$out" python3 -m http.server 8000 --bind 10.231.9.2 --directory "$work/www" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do ip netns exec "$lab" curl -s -o /dev/null http://10.231.9.2:8000/ && break; sleep 0.1; done

echo "== start overhead"
cd "$work/ws"
if command -v hyperfine >/dev/null; then
  ip netns exec "$lab" hyperfine -N --warmup 5 -r 100 --style basic "$cordon run -- true" "true" 2>&1 | grep -E "Time|±|faster"
else
  for cmd in "$cordon run -- true" "true"; do
    t0=$(date +%s%N); for _ in $(seq 100); do ip netns exec "$lab" $cmd; done; t1=$(date +%s%N)
    echo "$cmd: $(( (t1 - t0) / 100000 )) us a run (including ip netns exec)"
  done
fi

pairs="${PAIRS:-7}"
echo "== download of $mb MB, $pairs interleaved pairs, alternating order (bytes/s)"
url=http://10.231.9.2:8000/big.bin
dl_direct() { ip netns exec "$lab" curl -s -o /dev/null -w '%{speed_download}' "$url"; }
dl_cordon() { ip netns exec "$lab" "$cordon" run --policy "$work/policy.toml" -- curl -s -o /dev/null -w '%{speed_download}' "$url"; }
dl_direct >/dev/null; dl_cordon >/dev/null
direct=(); proxied=()
for i in $(seq "$pairs"); do
  if [ $((i % 2)) = 1 ]; then
    direct+=("$(dl_direct)"); proxied+=("$(dl_cordon)")
  else
    proxied+=("$(dl_cordon)"); direct+=("$(dl_direct)")
  fi
done
python3 - "${direct[*]}" "${proxied[*]}" <<'EOF'
import statistics, sys
d = [float(x) for x in sys.argv[1].split()]
p = [float(x) for x in sys.argv[2].split()]
md, mp = statistics.median(d), statistics.median(p)
print(f"without cordon: median {md/1e6:,.0f} MB/s  {[round(x/1e6) for x in d]}")
print(f"cordon run:     median {mp/1e6:,.0f} MB/s  {[round(x/1e6) for x in p]}")
print(f"ratio: {mp/md:.2f}  (median of per-pair ratios {statistics.median(y / x for x, y in zip(d, p)):.2f})")
EOF
