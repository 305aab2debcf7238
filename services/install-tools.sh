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
command -v go      >/dev/null || missing+=(golang-go)  # builds pipelines/dns/dnsdecode
command -v java    >/dev/null || missing+=(openjdk-17-jre-headless)
command -v javac   >/dev/null || missing+=(openjdk-17-jdk-headless)  # the metastore launcher
command -v ip      >/dev/null || missing+=(iproute2)   # the cluster tests' network namespaces
# Kerberos (KRB_AUTH): kinit/klist; the headers gssapi, krb5 and kerberos (requirements.txt)
# build against; the KDC and kadmin.local the Kerberos tests run a realm with.
command -v kinit        >/dev/null || missing+=(krb5-user)
command -v krb5-config  >/dev/null || missing+=(libkrb5-dev)
command -v gcc          >/dev/null || missing+=(gcc libc6-dev)
command -v krb5kdc      >/dev/null || missing+=(krb5-kdc)
command -v kadmin.local >/dev/null || missing+=(krb5-admin-server)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
