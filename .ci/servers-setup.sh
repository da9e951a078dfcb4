#!/usr/bin/env bash
# The IMAP servers the tests run besides Dovecot (root only; idempotent; called at the end of
# .ci/dovecot-setup.sh): Cyrus IMAP 3.6 and GNU Mailutils imap4d 3.15, both from Debian.
#
# Neither is installed as a package: cyrus-imapd conflicts with dovecot-imapd, and
# mailutils-imap4d would enable a system service on port 143. Their .debs are unpacked with
# `dpkg-deb -x` into /opt/mailclean-servers/{cyrus,mailutils}; only the libraries they link are
# installed with apt (they conflict with nothing). tests/support/cyrus.py and
# tests/support/mailutils.py run them from there, each from its own private configuration.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export DEBIAN_FRONTEND=noninteractive

DEST=${MAILCLEAN_SERVERS:-/opt/mailclean-servers}
CYRUS_PACKAGES="cyrus-common cyrus-imapd sasl2-bin"
MAILUTILS_PACKAGES="mailutils-imap4d"
# Linked only by tools the tests never run (cyr_virusscan, notifyd): not worth their weight.
SKIP_LIBS="libclamav12 libzephyr4"

if [ "$(id -u)" -ne 0 ]; then
    echo "servers-setup.sh: needs root (CI and the dev machines run as root)" >&2
    exit 1
fi

# Whether every ELF file named links with no missing library (unpacked libraries included).
links_ok() {
    local root=$1
    shift
    local libpath
    libpath=$(find "$root/usr/lib" -maxdepth 2 -name '*.so.*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd:)
    local f
    for f in "$@"; do
        [ -x "$root/$f" ] || return 1
        if LD_LIBRARY_PATH="$libpath" ldd "$root/$f" 2>/dev/null | grep -q 'not found'; then
            return 1
        fi
    done
}

cyrus_ok() {
    links_ok "$DEST/cyrus" usr/lib/cyrus/bin/master usr/lib/cyrus/bin/imapd \
        usr/lib/cyrus/bin/ctl_cyrusdb usr/lib/cyrus/bin/ctl_mboxlist usr/lib/cyrus/bin/mbexamine \
        usr/lib/cyrus/bin/quota usr/sbin/saslpasswd2 || return 1
    # The system's SASL plugins: PLAIN (libsasl2-modules) and sasldb (libsasl2-modules-db).
    local plugin
    for plugin in libplain.so libsasldb.so; do
        [ -n "$(find /usr/lib -path "*/sasl2/$plugin*" -print -quit 2>/dev/null)" ] || return 1
    done
}

mailutils_ok() {
    links_ok "$DEST/mailutils" usr/sbin/imap4d
}

if cyrus_ok && mailutils_ok; then
    echo "servers-setup: Cyrus and Mailutils already in $DEST"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download runs as _apt when it can: let it write here.
chmod 0777 "$work"

updated=no
apt_update() {
    if [ "$updated" = no ]; then
        apt-get update -q
        updated=yes
    fi
}

download() {
    # apt-get download needs package lists; fetch them only when it fails without.
    (cd "$work" && apt-get download -q "$@") || { apt_update; (cd "$work" && apt-get download -q "$@"); }
}

# The library packages a .deb depends on (first alternative, no version), minus SKIP_LIBS.
lib_depends() {
    dpkg-deb -f "$1" Depends Pre-Depends | sed -E 's/^[A-Za-z-]+: //' | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' \
        | tr -d ' ' | grep -E '^lib' | grep -v -x -F -f <(tr ' ' '\n' <<<"$SKIP_LIBS") || true
}

install_libs() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        apt-get install -y -q --no-install-recommends "${missing[@]}" \
            || { apt_update; apt-get install -y -q --no-install-recommends "${missing[@]}"; }
    fi
}

unpack() {
    local name=$1
    shift
    local staging="$DEST/.$name.new"
    rm -rf "$staging"
    mkdir -p "$staging"
    local deb
    for deb in "$@"; do
        dpkg-deb -x "$deb" "$staging"
    done
    rm -rf "$DEST/$name"
    mv "$staging" "$DEST/$name"
}

mkdir -p "$DEST"

if ! cyrus_ok; then
    # shellcheck disable=SC2086
    download $CYRUS_PACKAGES
    debs=()
    for pkg in $CYRUS_PACKAGES; do
        debs+=("$(ls "$work"/"${pkg}"_*.deb)")
    done
    libs=()
    for deb in "${debs[@]}"; do
        while read -r lib; do [ -n "$lib" ] && libs+=("$lib"); done < <(lib_depends "$deb")
    done
    # SASL's PLAIN/LOGIN mechanisms and its sasldb plugin (auxprop).
    install_libs "${libs[@]}" libsasl2-modules libsasl2-modules-db
    unpack cyrus "${debs[@]}"
    cyrus_ok || { echo "servers-setup: Cyrus unpacked but libraries are missing" >&2; exit 1; }
fi

if ! mailutils_ok; then
    # shellcheck disable=SC2086
    download $MAILUTILS_PACKAGES
    deb=$(ls "$work"/mailutils-imap4d_*.deb)
    libs=()
    while read -r lib; do [ -n "$lib" ] && libs+=("$lib"); done < <(lib_depends "$deb")
    # openssl makes the crypt(3) hashes of the harness's passwd files.
    install_libs "${libs[@]}" openssl
    unpack mailutils "$deb"
    mailutils_ok || { echo "servers-setup: imap4d unpacked but libraries are missing" >&2; exit 1; }
fi

echo "servers-setup: $(LD_LIBRARY_PATH=$DEST/cyrus/usr/lib/x86_64-linux-gnu \
    "$DEST/cyrus/usr/lib/cyrus/bin/cyr_info" -C /dev/null version 2>/dev/null || echo Cyrus) and" \
    "$("$DEST/mailutils/usr/sbin/imap4d" --version | head -1) in $DEST"
