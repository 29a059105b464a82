#!/usr/bin/env bash
# Installs the tools Slate's pipeline runs (ffmpeg and ffprobe, the fonts its words are set in,
# the SoundFont its music is played with) with apt-get when they are missing and this runs as
# root; otherwise says what to install.
# With the argument `test`, also the browser the web pages are tested in (chromium and its
# WebDriver, chromium-driver), and Python's venv, in which schemathesis checks the API. With
# `verify`, only what checks the engine's protocol model: spin, and gcc to build its verifiers.
set -euo pipefail
missing=()
# need COMMAND [PACKAGE]: PACKAGE (COMMAND's own name by default) is missing unless COMMAND runs.
need() { command -v "$1" >/dev/null 2>&1 || missing+=("${2:-$1}"); }
case "${1:-}" in
  verify)
    need spin
    need gcc
    ;;
  *)
    need ffmpeg
    need ffprobe ffmpeg
    # have FILE PACKAGE: PACKAGE is missing unless FILE is there.
    have() { [ -e "$1" ] || missing+=("$2"); }
    have /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf fonts-dejavu-core
    have /usr/share/fonts/opentype/inter/Inter-SemiBold.otf fonts-inter
    have /usr/share/fonts/opentype/league-spartan/LeagueSpartan-Black.otf fonts-league-spartan
    have /usr/share/fonts/opentype/ebgaramond/EBGaramond12-Regular.otf fonts-ebgaramond
    have /usr/share/fonts/truetype/manrope/Manrope-ExtraBold.ttf fonts-manrope
    [ -n "${SLATE_SOUNDFONT:-}" ] || have /usr/share/sounds/sf2/TimGM6mb.sf2 timgm6mb-soundfont
    if [ "${1:-}" = test ]; then
      need chromium
      need chromedriver chromium-driver
      python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
      need curl
    fi
    ;;
esac
[ ${#missing[@]} -eq 0 ] && exit 0
# One package may be missing for two commands.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-tools: please install ${missing[*]}" >&2
  exit 1
fi
echo "install-tools: installing ${missing[*]} with apt-get" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
