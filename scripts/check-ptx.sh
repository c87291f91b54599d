#!/usr/bin/env bash
# check-ptx.sh assembles each PTX file given for sm_80 and sm_90 with
# `ptxas -v` and fails if any kernel spills registers to local memory. (A
# stack frame alone is allowed: double sin/cos keep their rarely taken
# large-argument reduction there.)
set -euo pipefail
status=0
for ptx in "$@"; do
	for arch in sm_80 sm_90; do
		log=$(ptxas -v -arch="$arch" -o /dev/null "$ptx" 2>&1) || { echo "$log"; echo "check-ptx: $ptx does not assemble for $arch" >&2; exit 1; }
		# ptxas prints, per kernel: "Compiling entry function 'name'" and
		# "N bytes stack frame, N bytes spill stores, N bytes spill loads".
		bad=$(echo "$log" | awk -v arch="$arch" -v f="$ptx" '
			/Compiling entry function/ { match($0, /'"'"'[^'"'"']*'"'"'/); name = substr($0, RSTART + 1, RLENGTH - 2) }
			/spill stores/ { if ($5 != 0 || $9 != 0) printf "%s %s %s: %s\n", f, arch, name, $0 }')
		if [ -n "$bad" ]; then echo "$bad"; status=1; fi
	done
done
[ $status = 0 ] && echo "check-ptx: $# files, no spills on sm_80 or sm_90"
exit $status
