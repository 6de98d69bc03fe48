#!/usr/bin/env bash
# Usage: tests/e2e/peers.sh DIR
#
# Unpack Debian's rsyslog (with rsyslog-openssl) and syslog-ng-core into DIR (apt-get download +
# dpkg -x), for the end-to-end tests that forward syslog through them to
# logd, and for the benchmark (bench/run calls this with .venv/peers, the
# tests' directory, so both share one copy).  Neither is installed: the two packages conflict, and neither may
# become (or start as) this machine's log daemon.  Only their shared
# libraries are installed, with apt-get, when ldd finds some missing.
#
# Afterwards:
#   DIR/usr/sbin/rsyslogd   -M DIR/usr/lib/MULTIARCH/rsyslog (x86_64-linux-gnu, ...)
#   DIR/usr/sbin/syslog-ng  --module-path=DIR/usr/lib/syslog-ng/VERSION
#                           with LD_LIBRARY_PATH=DIR/usr/lib/syslog-ng
# Idempotent: what is already unpacked is not downloaded again.  Needs root
# (or sudo) only when libraries must be installed.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
DEBS="$DIR/debs"
export DEBIAN_FRONTEND=noninteractive
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"

say() { echo "peers.sh: $*" >&2; }

# 1. Unpack what is missing.
need=()
[ -x "$DIR/usr/sbin/rsyslogd" ] || need+=(rsyslog)
[ -x "$DIR/usr/sbin/syslog-ng" ] || need+=(syslog-ng-core)
# rsyslog's OpenSSL network stream driver, for the TLS tests (syslog-ng's
# afsocket has TLS built in).
compgen -G "$DIR/usr/lib/*-linux-*/rsyslog/lmnsd_ossl.so" >/dev/null || need+=(rsyslog-openssl)
if ((${#need[@]})); then
    mkdir -p "$DEBS"
    say "downloading ${need[*]} into $DEBS"
    # (As root, apt warns that it downloads unsandboxed: _apt cannot write
    # into DIR.  That is expected; other messages still show.)
    download() { (cd "$DEBS" && apt-get download -q "${need[@]}" 2> >(grep -v unsandboxed >&2) >/dev/null); }
    if ! download; then
        say "apt-get download failed; updating the package lists and retrying"
        $sudo apt-get update -q >/dev/null
        download
    fi
    for pkg in "${need[@]}"; do
        for deb in "$DEBS/${pkg}"_*.deb; do
            dpkg -x "$deb" "$DIR"
        done
    done
fi

RSYSLOG_MODULES=$(ls -d "$DIR"/usr/lib/*-linux-*/rsyslog | head -n1)
SYSLOG_NG_LIBS="$DIR/usr/lib/syslog-ng"

# The binaries and the modules the tests and the benchmark load (rsyslog's
# omfile is built in).
targets() {
    echo "$DIR/usr/sbin/rsyslogd"
    for m in imudp imtcp lmnet lmnetstrms lmnsd_ptcp lmnsd_ossl lmtcpclt lmtcpsrv; do
        if [ -e "$RSYSLOG_MODULES/$m.so" ]; then echo "$RSYSLOG_MODULES/$m.so"; fi
    done
    echo "$DIR/usr/sbin/syslog-ng"
    for m in "$SYSLOG_NG_LIBS"/*/libafsocket.so "$SYSLOG_NG_LIBS"/*/libsyslogformat.so "$SYSLOG_NG_LIBS"/*/libaffile.so; do
        if [ -e "$m" ]; then echo "$m"; fi
    done
}

missingLibraries() {
    local t
    targets | while read -r t; do
        LD_LIBRARY_PATH="$SYSLOG_NG_LIBS" ldd "$t" | awk -v t="$t" '/not found/ {print t ": " $1}'
    done
}

# 2. Their shared libraries: the lib* packages both .debs depend on.
if [ -n "$(missingLibraries)" ]; then
    mapfile -t libs < <(
        for deb in "$DEBS"/rsyslog_*.deb "$DEBS"/rsyslog-openssl_*.deb "$DEBS"/syslog-ng-core_*.deb; do
            if [ -e "$deb" ]; then dpkg-deb -f "$deb" Depends; fi
        done | tr ',|' '\n\n' | sed -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' | grep -E '^(lib|zlib)' | sort -u |
        while read -r pkg; do
            # Only what is not installed: never upgrade the machine's libraries.
            if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then echo "$pkg"; fi
        done
    )
    if ((${#libs[@]} == 0)); then
        say "libraries are missing, and no library package that the .debs in $DEBS depend on is left to install"
        missingLibraries >&2
        exit 1
    fi
    say "installing the peers' shared libraries: ${libs[*]}"
    if ! $sudo apt-get install -y -q --no-install-recommends "${libs[@]}" >/dev/null; then
        $sudo apt-get update -q >/dev/null
        $sudo apt-get install -y -q --no-install-recommends "${libs[@]}" >/dev/null
    fi
    still=$(missingLibraries)
    if [ -n "$still" ]; then
        say "still missing shared libraries:"
        echo "$still" >&2
        exit 1
    fi
fi

# 3. Both start (just to print their versions).
"$DIR/usr/sbin/rsyslogd" -v >/dev/null
LD_LIBRARY_PATH="$SYSLOG_NG_LIBS" "$DIR/usr/sbin/syslog-ng" -V --module-path="$(ls -d "$SYSLOG_NG_LIBS"/[0-9]*/ | head -n1)" >/dev/null
say "rsyslog and syslog-ng are unpacked in $DIR"
