#!/usr/bin/env bash
# install-cuda.sh installs Debian's CUDA toolkit (nvcc, ptxas, cuda.h and the
# libcuda link stub) when nvcc is missing. The toolkit lives in Debian's
# non-free component, so a sources entry is derived from the machine's own
# debian.sources with only its Components line changed.
set -euo pipefail
command -v nvcc >/dev/null && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
src=/etc/apt/sources.list.d/debian.sources
dst=/etc/apt/sources.list.d/debian-nonfree.sources
if [ ! -f "$dst" ]; then
	[ -f "$src" ] || { echo "install-cuda: $src not found; add Debian's non-free component by hand" >&2; exit 1; }
	sed 's/^Components:.*/Components: main contrib non-free non-free-firmware/' "$src" | $SUDO tee "$dst" >/dev/null
fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nvidia-cuda-toolkit
