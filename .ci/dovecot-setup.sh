#!/usr/bin/env bash
# Machine setup for the IMAP tests (root only): the Dovecot binaries and the system user that
# owns the test mail. The suite starts its own private Dovecot (tests/dovecot.py); the system
# service is never used, so it is not enabled or started here.
set -euo pipefail
# dovecot, useradd and policy-rc.d live in sbin, which a bare environment's PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

if [ "$(id -u)" -ne 0 ]; then
    echo "dovecot-setup.sh: needs root (CI and the dev machines run as root)" >&2
    exit 1
fi

if ! command -v dovecot >/dev/null 2>&1 || ! command -v doveadm >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # A temporary policy-rc.d (exit 101 = "action forbidden") keeps the package's postinst from
    # starting the system service, which would listen on every interface for nothing.
    policy=/usr/sbin/policy-rc.d
    added_policy=no
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        added_policy=yes
    fi
    status=0
    apt-get install -y -q --no-install-recommends dovecot-imapd || status=$?
    if [ "$added_policy" = yes ]; then rm -f "$policy"; fi
    [ "$status" -eq 0 ] || exit "$status"
fi

# openssl makes the self-signed certificate for the IMAPS tests (the harness falls back to the
# `cryptography` package, but the binary is faster and always there on Debian).
if ! command -v openssl >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends openssl
fi

# Headless Chromium renders the snapshot report in tests (the HTML must stand alone).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends chromium
fi

if ! getent passwd mailclean-test >/dev/null; then
    useradd --system --no-create-home --shell /usr/sbin/nologin mailclean-test
fi

echo "dovecot-setup: $(dovecot --version | cut -d' ' -f1), mail user $(id mailclean-test)"
bash "$(dirname "${BASH_SOURCE[0]}")/servers-setup.sh"  # Cyrus and Mailutils, unpacked beside Dovecot
