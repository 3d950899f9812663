#!/usr/bin/env bash
# Runs every test. Installs what the tests need (Debian packages) when it is
# missing, so it works on a fresh machine. Tests start their own sshd,
# radclient and SQLite files on loopback under temp folders; nothing of the
# system's own configuration is touched (the test vsftpd adds one PAM service
# file, /etc/pam.d/roamsettle-test-*, removed when its test ends).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v radclient   >/dev/null 2>&1 || need+=(freeradius-utils)
[ -x /usr/sbin/freeradius ]            || need+=(freeradius)
[ -x /usr/sbin/sshd ]                  || need+=(openssh-server)
command -v ssh-keygen  >/dev/null 2>&1 || need+=(openssh-client)
command -v sqlite3     >/dev/null 2>&1 || need+=(sqlite3)
[ -x /usr/sbin/vsftpd ]                || need+=(vsftpd)
command -v db_load     >/dev/null 2>&1 || need+=(db-util)   # vsftpd test logins (pam_userdb)
command -v curl        >/dev/null 2>&1 || need+=(curl ca-certificates)
command -v openssl     >/dev/null 2>&1 || need+=(openssl)
command -v chromium    >/dev/null 2>&1 || need+=(chromium)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v promtool    >/dev/null 2>&1 || need+=(prometheus)  # docs/alerts.yml
command -v man         >/dev/null 2>&1 || need+=(man-db)    # the package test renders the man pages
if [ ${#need[@]} -gt 0 ]; then
	echo "test.sh: installing ${need[*]}" >&2
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	# Debian starts the daemons it installs; the tests run their own.
	for svc in ssh vsftpd freeradius prometheus; do $SUDO service "$svc" stop >/dev/null 2>&1 || true; done
fi

go vet ./...
test -z "$(gofmt -l $(git ls-files "*.go"))" || { echo "gofmt needed:"; gofmt -l $(git ls-files "*.go"); exit 1; }
go test -count=1 -timeout 45m "$@" ./...
