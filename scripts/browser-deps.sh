#!/usr/bin/env bash
# Installs what the page's browser tests, screenshots and benchmark need when it is missing:
# Debian's Chromium and its WebDriver (chromedriver). CI runs on a fresh Debian as root;
# elsewhere this uses sudo when there is one.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
sudo_=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "browser-deps: chromium and chromium-driver are missing; install them as root (apt-get install chromium chromium-driver)" >&2; exit 1; }
  sudo_="sudo"
fi
echo "browser-deps: installing chromium and chromium-driver (once)" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo_ apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
  || { $sudo_ apt-get update -q >/dev/null && $sudo_ apt-get install -y -q chromium chromium-driver >/dev/null; }
/usr/bin/chromium --version
