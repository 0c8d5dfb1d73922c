#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Gantry builds and runs with, when any is missing.
# Usage: scripts/install-deps.sh [--test]   (--test adds what the test suite needs)
set -euo pipefail

packages=(pkg-config libcurl4-openssl-dev libpng-dev libwebp-dev libturbojpeg0-dev libopenblas-dev libsqlite3-dev libssl-dev
          openssl ca-certificates)
if [[ "${1:-}" == "--test" ]]; then
  # PostgreSQL for the PostgreSQL store's tests, which start their own throwaway cluster (scripts/pg-server.sh).
  packages+=(python3 python3-pip python3-venv postgresql curl)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

run_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

if (( ${#missing[@]} )); then
  echo "installing: ${missing[*]}" >&2
  run_root apt-get update -qq
  # No package may start a system service (PostgreSQL's would take port 5432): the tests start their own servers.
  policy_made=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    run_root sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    policy_made=1
  fi
  run_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if (( policy_made )); then run_root rm -f /usr/sbin/policy-rc.d; fi
fi

if ! command -v swift >/dev/null 2>&1; then
  # Debian 13 and recent Ubuntu package the toolchain as swiftlang; elsewhere use swiftly (swift.org/install).
  if apt-cache show swiftlang >/dev/null 2>&1; then
    run_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq swiftlang >/dev/null
  else
    echo "Swift 6 is not installed and this distribution has no swiftlang package." >&2
    echo "Install it with swiftly (https://www.swift.org/install/linux/), then run this again." >&2
    exit 1
  fi
fi
