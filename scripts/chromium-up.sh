#!/usr/bin/env bash
# Install Debian's headless-capable Chromium if missing (the dashboard's browser test drives it),
# then print its path on stdout.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_chromium() { command -v chromium || command -v chromium-browser; }

lock chromium
if ! find_chromium >/dev/null; then
  apt_install chromium
fi
find_chromium || die "chromium is not on PATH after installing it"
