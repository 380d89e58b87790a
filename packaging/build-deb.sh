#!/usr/bin/env bash
# Builds the Linux package of Plan Runner into dist/:
#   plan-runner_<version>_<arch>.deb          the bundle in /opt/plan-runner, /usr/bin link,
#                                             desktop entry, icons, metainfo
#   plan-runner-<version>-linux-<arch>.tar.gz the same bundle, to unpack anywhere
# The PyInstaller bundle is built in a venv under build/ (kept between builds). Needs
# python3 with venv, dpkg-dev (dpkg-deb, dpkg-shlibdeps) and zstd or xz:
# .ci/system-deps installs them. The version is app.__version__, nowhere else.
set -euo pipefail
started=$(date +%s)
cd "$(dirname "$0")/.."

python="${PYTHON:-python3}"
venv=build/packaging-venv
bundle=build/bundle/plan-runner
stage=build/deb-root

# The dependencies IT can expect to be pulled in; build time adds what the bundle
# links (with minimum versions) through dpkg-shlibdeps.
declared_depends="libgl1, libegl1, libfontconfig1, libxkbcommon0, libglib2.0-0, \
libdbus-1-3, fonts-dejavu-core | fonts-liberation2 | fonts-noto-core, \
libxkbcommon-x11-0, libxcb-cursor0, libxcb-icccm4, libxcb-image0, libxcb-keysyms1, \
libxcb-render-util0, libxcb-shape0, libxcb-xkb1"
recommends="gnome-keyring | kwalletmanager"

echo "== build venv ($venv)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
# setuptools builds in build/lib: clear it so no stale module reaches the bundle.
rm -rf build/lib build/bdist.*
"$venv/bin/python" -m pip install -q '.[packaging]'
"$venv/bin/python" -m pip install -q --no-deps --force-reinstall .

version=$("$venv/bin/python" -c 'import app; print(app.__version__)')
arch=$(dpkg --print-architecture)
deb="dist/plan-runner_${version}_${arch}.deb"
tarball="dist/plan-runner-${version}-linux-${arch}.tar.gz"
echo "== plan-runner $version ($arch)"

echo "== PyInstaller bundle ($bundle)"
"$venv/bin/pyinstaller" --noconfirm --log-level WARN \
  --workpath build/pyinstaller --distpath build/bundle packaging/plan-runner.spec
reported=$("$bundle/plan-runner" --version)
[ "$reported" = "plan-runner $version" ] || {
  echo "the bundle says '$reported', expected 'plan-runner $version'" >&2
  exit 1
}
missing=$(cd "$bundle/_internal" && find . -name '*.so*' -type f ! -name libqgtk3.so \
  -exec env LD_LIBRARY_PATH="$PWD" ldd {} + 2>/dev/null | grep 'not found' | sort -u || true)
if [ -n "$missing" ]; then
  echo "libraries the bundle needs are missing on this machine:" >&2
  echo "$missing" >&2
  exit 1
fi

echo "== staging the package ($stage)"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/opt" "$stage/usr/bin" \
  "$stage/usr/share/applications" "$stage/usr/share/metainfo" \
  "$stage/usr/share/icons/hicolor/scalable/apps" \
  "$stage/usr/share/doc/plan-runner/examples"
cp -a "$bundle" "$stage/opt/plan-runner"
ln -s /opt/plan-runner/plan-runner "$stage/usr/bin/plan-runner"
install -m 644 resources/plan-runner.desktop "$stage/usr/share/applications/"
install -m 644 resources/io.github.planrunner.PlanRunner.metainfo.xml \
  "$stage/usr/share/metainfo/"
install -m 644 resources/plan-runner.svg "$stage/usr/share/icons/hicolor/scalable/apps/"
QT_QPA_PLATFORM=offscreen "$venv/bin/python" packaging/render_icons.py \
  resources/plan-runner.svg "$stage/usr/share/icons/hicolor" 16 32 48 64 128 256 >/dev/null
install -m 644 packaging/linux/copyright "$stage/usr/share/doc/plan-runner/copyright"
install -m 644 packaging/policy.example.json \
  "$stage/usr/share/doc/plan-runner/examples/policy.json"
find "$stage" -type d -exec chmod 755 {} +
find "$stage/usr/share" -type f -exec chmod 644 {} +

depends=$("$venv/bin/python" packaging/deb_depends.py "$bundle" "$declared_depends")
installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: plan-runner
Version: $version
Architecture: $arch
Maintainer: Plan Runner contributors <plan-runner@users.noreply.github.com>
Installed-Size: $installed_kb
Depends: $depends
Recommends: $recommends
Section: devel
Priority: optional
Homepage: https://github.com/planrunner/plan-runner
Description: queue test plans on a test gateway with one click
 Plan Runner queues a test plan on the company's test gateway and says, in
 words a person can act on, what the gateway answered. It keeps a local
 history of runs and the token in the system keyring.
 .
 IT presets gateways, the company CA and a proxy in
 /etc/plan-runner/policy.json (example in /usr/share/doc/plan-runner/examples).
EOF

echo "== .deb and .tar.gz (dist/)"
mkdir -p dist
compression=xz
case "$(dpkg-deb --help 2>&1)" in *zstd*) compression=zstd ;; esac
rm -f "$deb" "$tarball"
dpkg-deb --root-owner-group -Z"$compression" -z9 --build "$stage" "$deb" >/dev/null
tar -C build/bundle --owner=0 --group=0 -czf "$tarball" plan-runner

elapsed=$(($(date +%s) - started))
echo "Built $deb ($compression): $(du -h "$deb" | cut -f1) ($(stat -c %s "$deb") bytes)"
echo "Built $tarball: $(du -h "$tarball" | cut -f1)"
echo "Build time: ${elapsed} s"
