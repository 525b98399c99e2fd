#!/usr/bin/env bash
# Installs, as root, the Debian packages the test lanes need:
# - Mesa >= 24 lavapipe from bookworm-backports (bookworm's 22.3 is refused by Dawn) for Node's WebGPU;
# - Chromium (headless, WebGPU on its bundled SwiftShader) for the browser lane.
# The backports entry is derived from the machine's own Debian source so no mirror host is named here.
set -euo pipefail
src=/etc/apt/sources.list.d/debian.sources
bp=/etc/apt/sources.list.d/switchyard-backports.sources
if [ -f "$src" ] && [ ! -f "$bp" ] && ! grep -rqs 'bookworm-backports' /etc/apt/sources.list.d/ /etc/apt/sources.list; then
  awk 'BEGIN{RS=""; ORS="\n\n"} /Suites:[^\n]*bookworm( |$|\n)/ && !/security/ {
         sub(/Suites:[^\n]*/, "Suites: bookworm-backports"); print; exit }' "$src" > "$bp"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1
apt-get install -y --no-install-recommends chromium
