#!/usr/bin/env bash
# Makes a WebGPU adapter available to Dawn (npm `webgpu`) on Debian 12 without a GPU:
# Mesa's lavapipe Vulkan driver from bookworm-backports. Debian 12's own Mesa (22.3) is
# rejected by Dawn. Idempotent: does nothing when a usable Mesa is already installed.
#   usage: bash scripts/setup-webgpu.sh [--test-deps]
#   --test-deps   also installs what the tests use: Debian's python3-torch and
#                 python3-torchvision (the fidelity reference, also used by the benchmarks)
#                 and chromium (the engine in a real browser's WebGPU).
set -euo pipefail
test_deps=0
for a in "$@"; do
  case "$a" in
    --test-deps|--with-torch) test_deps=1 ;;
    *) echo "setup-webgpu: unknown argument '$a' (expected --test-deps)" >&2; exit 2 ;;
  esac
done

sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi

mesa_ok() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  [ -n "$v" ] && dpkg --compare-versions "$v" ge 25 && dpkg-query -W libvulkan1 >/dev/null 2>&1
}

torch_ok() { /usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1; }

need_update=1
apt_update() {
  if [ "$need_update" = 1 ]; then "${sudo_cmd[@]}" apt-get update -qq; need_update=0; fi
}

if mesa_ok; then
  echo "setup-webgpu: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) already installed"
else
  if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Use the same mirror as the existing Debian sources.
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1 | awk '{print $2}')
    [ -n "${uri:-}" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -n1)
    [ -n "${uri:-}" ] || uri=http://deb.debian.org/debian
    echo "setup-webgpu: adding bookworm-backports from $uri"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" |
      "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  fi
  apt_update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq -t bookworm-backports \
    mesa-vulkan-drivers libvulkan1 >/dev/null
  mesa_ok || { echo "setup-webgpu: mesa-vulkan-drivers >= 25 did not install" >&2; exit 1; }
  echo "setup-webgpu: installed mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
fi

if [ "$test_deps" = 1 ]; then
  if torch_ok; then
    echo "setup-webgpu: python3-torch already installed"
  else
    apt_update
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
      python3-torch python3-torchvision >/dev/null
    torch_ok || { echo "setup-webgpu: python3-torch did not install" >&2; exit 1; }
    echo "setup-webgpu: installed python3-torch"
  fi
  if command -v chromium >/dev/null; then
    echo "setup-webgpu: chromium already installed"
  else
    apt_update
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null
    command -v chromium >/dev/null || { echo "setup-webgpu: chromium did not install" >&2; exit 1; }
    echo "setup-webgpu: installed chromium"
  fi
fi
