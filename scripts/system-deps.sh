#!/usr/bin/env bash
# Installs the real services and tools the test suite starts: Redis (network chaos tests),
# Chromium (the HTML report is opened in a headless browser) and Node.js/npm (the published
# Toxiproxy Node client is driven against the embedded proxy), and socat (the benchmarks'
# reference proxy written in C). Debian packages; needs root.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v socat >/dev/null 2>&1 || need+=(socat)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  echo "system-deps: missing ${need[*]}; install them (Debian: apt-get install ${need[*]}) and re-run" >&2
  exit 1
fi
echo "system-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
