#!/usr/bin/env bash
# Debian packages the test suite runs for real: PostgreSQL (DuckLake catalog test) and
# headless Chromium (HTML release report test). Installs only what is missing, so a machine
# that has them pays nothing; needs root or passwordless sudo (CI runs as root).
set -euo pipefail

want=()
[ -x /usr/bin/chromium ] || want+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
[ ${#want[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); elif sudo -n true 2>/dev/null; then sudo=(sudo -n); else
  echo "system-deps: need ${want[*]} (Debian packages) but cannot install them: run as root or install them yourself" >&2
  exit 1
fi
echo "system-deps: installing ${want[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
