#!/usr/bin/env bash
# Installs the tools Slate's pipeline runs (ffmpeg and ffprobe, a font for the stills) with
# apt-get when they are missing and this runs as root; otherwise says what to install.
# With the argument `test`, also the browser the web pages are tested in (chromium and its
# WebDriver, chromium-driver), and Python's venv, in which schemathesis checks the API.
set -euo pipefail
missing=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
[ -n "${SLATE_FONT:-}" ] || [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] \
  || missing+=(fonts-dejavu-core)
if [ "${1:-}" = test ]; then
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
  python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  command -v curl >/dev/null 2>&1 || missing+=(curl)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-tools: please install ${missing[*]}" >&2
  exit 1
fi
echo "install-tools: installing ${missing[*]} with apt-get" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
