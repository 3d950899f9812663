#!/usr/bin/env bash
# Builds the Debian package of roamsettle with dpkg-deb (docs/packaging.md):
#   ./scripts/package.sh [OUTDIR]        (default: dist/)
# and prints the path of the .deb it wrote. Needs Go and dpkg-deb, nothing
# else, no network beyond the module cache, and no root (--root-owner-group).
# Environment: VERSION (default: from git), GOARCH (default: the host's),
# DEB_MAINTAINER, DEB_COMPRESSION (xz, the default; gzip or none build
# faster: the tests use none).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
tools=(roamcollect roamload roamclean roamreport roamsim)

# The version: a tag vX.Y.Z gives X.Y.Z (X.Y.Z+gitN.gHASH after N more
# commits); no tag gives 0~gitYYYYMMDDhhmmss.HASH, which sorts below any
# tagged release and by commit time between untagged builds. A tree with
# uncommitted changes gets +dirty. The binaries print the same (--version).
if [ -z "${VERSION:-}" ]; then
	if d=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
		VERSION=$(printf '%s' "${d#v}" | sed -E 's/-([0-9]+)-(g[0-9a-f]+)$/+git\1.\2/')
	else
		VERSION="0~git$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S).$(git rev-parse --short=12 HEAD)"
	fi
	if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		VERSION+="+dirty"
	fi
fi
case "$VERSION" in
[0-9]*) ;;
*) echo "package.sh: VERSION $VERSION must start with a digit (Debian policy)" >&2; exit 2 ;;
esac

goarch=${GOARCH:-$(go env GOARCH)}
case "$goarch" in
amd64 | arm64 | riscv64 | ppc64le | s390x) arch=$goarch ;;
386) arch=i386 ;;
arm) arch=armhf; export GOARM=${GOARM:-7} ;;
*) echo "package.sh: no Debian architecture for GOARCH=$goarch" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" \
	"$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
	"$root/etc/roamsettle" "$root/lib/systemd/system" "$root/usr/lib/sysusers.d" \
	"$root/usr/share/doc/roamsettle/examples" "$root/var/lib/roamsettle/metrics"

# Static binaries (pure Go, SQLite included), with the version.
ldflags="-s -w -X roamsettle/pkg/app.Version=$VERSION"
pkgs=()
for t in "${tools[@]}"; do pkgs+=("./cmd/$t"); done
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath -ldflags "$ldflags" -o "$root/usr/bin/" "${pkgs[@]}"

# Man pages and completion come from the binaries' own CLI definitions; when
# cross-building, from host builds of the same source.
gen=$root/usr/bin
if [ "$goarch" != "$(go env GOHOSTARCH)" ]; then
	gen=$work/host
	CGO_ENABLED=0 GOARCH= go build -trimpath -ldflags "$ldflags" -o "$gen/" "${pkgs[@]}"
fi
for t in "${tools[@]}"; do
	"$gen/$t" --generate-man-page | gzip -9n >"$root/usr/share/man/man1/$t.1.gz"
	"$gen/$t" --generate-bash-completion-script >"$root/usr/share/bash-completion/completions/$t"
	"$gen/$t" --generate-zsh-completion-script >"$root/usr/share/zsh/vendor-completions/_$t"
done

install -m 0644 deb/roam.toml deb/partners.csv deb/tariffs.csv "$root/etc/roamsettle/"
install -m 0644 systemd/*.service systemd/*.timer "$root/lib/systemd/system/"
install -m 0644 deb/sysusers.conf "$root/usr/lib/sysusers.d/roamsettle.conf"
install -m 0644 README.md docs/*.md "$root/usr/share/doc/roamsettle/"
install -m 0644 cron/*.crontab docs/alerts.yml "$root/usr/share/doc/roamsettle/examples/"
install -m 0755 deb/postinst deb/prerm deb/postrm "$root/DEBIAN/"
chmod 0755 "$root/usr/bin/"*

# Every file shipped under /etc is a conffile: dpkg keeps local edits.
(cd "$root" && find etc -type f -printf '/%p\n' | sort) >"$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
cat >"$root/DEBIAN/control" <<EOF
Package: roamsettle
Version: $VERSION
Architecture: $arch
Maintainer: ${DEB_MAINTAINER:-roamsettle maintainers <roamsettle@localhost>}
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Section: net
Priority: optional
Recommends: systemd | cron
Suggests: freeradius-utils
Description: Internet roaming settlement between ISPs
 roamcollect collects RADIUS accounting on a local ISP's edge host and
 pushes it to the settlement operator; roamload, roamclean and roamreport
 load, clean, rate and report it on the central host; roamsim makes
 sample traffic. Systemd units (installed, not enabled) run them as the
 system user roam, writing only under /var/lib/roamsettle.
EOF

deb=$out/roamsettle_${VERSION}_$arch.deb
# Reproducible: the archive's times are the commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)} \
	dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
