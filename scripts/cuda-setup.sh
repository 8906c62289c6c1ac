#!/usr/bin/env bash
# Prepares an offline build of burn's CUDA backend (`cargo build -p mmv-training --features cuda`)
# and prints the environment that build needs, as `export` lines on stdout:
#
#   eval "$(scripts/cuda-setup.sh)"
#   cargo build --release -p mmv-training --features cuda
#
# Progress goes to stderr. Safe to run again: every step checks before it acts.
#
# Why this exists: burn's CUDA backend (cubecl-cuda) always pulls cubecl-llvm, whose build
# dependency tracel-llvm-bundler downloads a prebuilt LLVM 23 archive from GitHub in its build
# script; these machines (and CI) have no such access. The bundler skips the download when its
# install folder already carries its sentinel file, and from then on it only asks that folder's
# `bin/llvm-config` where LLVM's headers and static libraries are. So we give it a folder whose
# llvm-config is Debian's LLVM 22. Nothing in burn or cubecl is patched.
#
# Options (environment):
#   MMV_CUDA_BUILD_HOME  where the bundler's folder goes (default ~/.local/share/mmv-edge-cuda);
#                        it becomes XDG_DATA_HOME for cargo, which is where the bundler looks.
#   MMV_CUDA_NO_APT=1    do not install packages, only check that they are there.
#
# Known limits of LLVM 22 in place of the bundle's LLVM 23 (see issue 20): it emits PTX up to 9.0
# only, and 3 of cubecl-llvm's 21 NVPTX tests differ (a missed fold, an atomic's spelling).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'cuda-setup: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# The LLVM we build against. Debian 12 ships llvm-22 in bookworm-security (22.1.x); it is the
# newest LLVM there and the closest to the bundle's 23 that cubecl-llvm's bindings expect.
LLVM_MAJOR=22
LLVM_ROOT=/usr/lib/llvm-$LLVM_MAJOR

# 1. Debian packages.
#    llvm-22-dev:     llvm-config, the LLVM headers and the static libLLVM*.a that cubecl-llvm
#                     links (the bundler asks for `llvm-config --link-static`); it pulls
#                     libz3-dev, libxml2-dev and libffi-dev, which llvm-config --system-libs names.
#    libpolly-22-dev: Debian's LLVM has Polly linked in, so `llvm-config --link-static --libs`
#                     lists -lPolly -lPollyISL, whose static archives only this package ships.
#    libzstd-dev:     llvm-config --system-libs says -lzstd; the runtime package has no libzstd.so.
packages=("llvm-$LLVM_MAJOR-dev" "libpolly-$LLVM_MAJOR-dev" libzstd-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "${MMV_CUDA_NO_APT:-0}" = 1 ] && die "missing packages: ${missing[*]} (MMV_CUDA_NO_APT=1)"
  command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  log "installing ${missing[*]}"
  # Try the package lists already on the machine first; update them only if that fails
  # (llvm-22 comes from bookworm-security, which a stale list may not know yet).
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
    "${sudo[@]}" apt-get update -qq >&2
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
fi
[ -x "$LLVM_ROOT/bin/llvm-config" ] || die "$LLVM_ROOT/bin/llvm-config not found"
# Every static library the bundler will ask the linker for must exist: fails here, rather than
# at the end of a long cargo build, if a piece is missing.
for f in $("$LLVM_ROOT/bin/llvm-config" --link-static --libfiles); do
  [ -f "$f" ] || die "$f missing (llvm-config --link-static --libfiles names it)"
done

# 2. The bundler's version, read from Cargo.lock so that a burn/cubecl upgrade that moves the
#    bundler to a new version makes this script lay out the folder it will look for (or stop).
bundler_version=$(awk '/^name = "tracel-llvm-bundler"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
[ -n "$bundler_version" ] || die "tracel-llvm-bundler not found in Cargo.lock (is burn's cuda feature still behind it?)"

# 3. The bundler's install folder, as tracel-llvm-bundler's src/config.rs computes it:
#    dirs::data_local_dir() (= $XDG_DATA_HOME on Linux) / "tracel" / "tracel-llvm-<version>",
#    with the sentinel ".tracel-llvm-installed" inside (build.rs returns early when it exists).
build_home=${MMV_CUDA_BUILD_HOME:-$HOME/.local/share/mmv-edge-cuda}
prefix="$build_home/tracel/tracel-llvm-$bundler_version"
mkdir -p "$prefix/bin"
#    lib and include: where the real bundle keeps them; llvm-config reports LLVM 22's own paths
#    anyway, the links only make the folder look like the bundle to anyone who looks.
ln -sfn "$LLVM_ROOT/lib" "$prefix/lib"
ln -sfn "$LLVM_ROOT/include" "$prefix/include"
#    bin/llvm-config: the bundler runs `<prefix>/bin/llvm-config --link-static <arg>` for the
#    libraries, system libraries, lib and include folders and C++ flags. Debian's prints libz3
#    as an absolute path (/usr/lib/x86_64-linux-gnu/libz3.so) among its -l flags; the bundler
#    turns a path into its file stem ("libz3") and emits rustc-link-lib=dylib=libz3, which
#    looks for liblibz3.so. The wrapper rewrites any absolute lib<name>.so[.N] into -l<name>.
cat >"$prefix/bin/llvm-config.tmp" <<EOF
#!/bin/sh
# Written by mmv-edge's scripts/cuda-setup.sh: LLVM $LLVM_MAJOR's llvm-config, with absolute
# shared-library paths (libz3) rewritten to -l flags for tracel-llvm-bundler.
out=\$("$LLVM_ROOT/bin/llvm-config" "\$@") || exit \$?
printf '%s\n' "\$out" | awk '{
  for (i = 1; i <= NF; i++)
    if (\$i ~ /^\/.*\/lib[^\/]+\.so(\.[0-9]+)*\$/) {
      n = \$i; sub(/^.*\/lib/, "", n); sub(/\.so.*\$/, "", n); \$i = "-l" n
    }
  print
}'
EOF
chmod +x "$prefix/bin/llvm-config.tmp"
mv -f "$prefix/bin/llvm-config.tmp" "$prefix/bin/llvm-config"
case " $("$prefix/bin/llvm-config" --link-static --system-libs) " in
  *" /"*) die "the llvm-config wrapper still prints an absolute library path" ;;
esac
#    The sentinel last, so that a folder left half-made by an interrupted run is not trusted.
touch "$prefix/.tracel-llvm-installed"
log "bundler folder ready: $prefix (LLVM $("$prefix/bin/llvm-config" --version))"

# 4. The environment for cargo. XDG_DATA_HOME is the one variable the bundler reads; it also
#    moves other programs' data folders, so set it for the build only (a subshell or `env`).
#    Nothing CUDA is needed to build: no nvcc, no headers (cudarc loads libcuda.so.1 at run
#    time). To run, a machine needs the NVIDIA driver; kernels calling exp/tanh/erf need
#    libdevice.10.bc (PyPI wheel nvidia-cuda-nvcc-cu12: CUDA_PATH=<site-packages>/nvidia/cuda_nvcc),
#    and CUDARC_CUDA_VERSION pins cudarc's driver API level if the driver is older than 12.x.
cat <<EOF
export XDG_DATA_HOME='$build_home'
EOF
