#!/usr/bin/env bash
# Installs the Debian tools the pipelines and the stack need, when missing.
set -euo pipefail
missing=()
command -v nfdump  >/dev/null || missing+=(nfdump)
command -v nfcapd  >/dev/null || missing+=(nfdump)
command -v tshark  >/dev/null || missing+=(tshark)
command -v editcap >/dev/null || missing+=(wireshark-common)
command -v tmux    >/dev/null || missing+=(tmux)
command -v strace  >/dev/null || missing+=(strace)    # the durability test watches fsync
command -v mvn     >/dev/null || missing+=(maven)
command -v java    >/dev/null || missing+=(openjdk-17-jre-headless)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
