#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking imgstash need.
# The only place in the project that installs packages. Idempotent; quiet when all is present.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config clang llvm libclang-rt-dev
  libjpeg62-turbo-dev libturbojpeg0-dev libjpeg-turbo-progs
  libpng-dev libtiff-dev libzstd-dev libxxhash-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  ffmpeg zstd xz-utils libjxl-tools time
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
