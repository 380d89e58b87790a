#!/usr/bin/env bash
# Builds "Plan Runner.app", signs it with the hardened runtime, puts it in a .dmg,
# notarizes and staples it: dist/plan-runner-<version>-macos-<arch>.dmg. macOS only.
#
# Needs Xcode's command line tools, a "Developer ID Application" certificate in the
# keychain, and notarytool credentials stored once under a profile name:
#   xcrun notarytool store-credentials plan-runner-notary \
#       --apple-id you@example.com --team-id TEAMID --password APP-SPECIFIC-PASSWORD
# Usage:
#   IDENTITY="Developer ID Application: Example Corp (TEAMID)" \
#   NOTARY_PROFILE=plan-runner-notary packaging/macos/build-dmg.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${IDENTITY:?set IDENTITY to a Developer ID Application signing identity}"
: "${NOTARY_PROFILE:?set NOTARY_PROFILE to a notarytool keychain profile}"

python="${PYTHON:-python3}"
venv=build/packaging-venv
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q '.[packaging]' pillow
"$venv/bin/python" -m pip install -q --no-deps --force-reinstall .

# The one version: app/__init__.py; the spec writes it into Info.plist.
version=$("$venv/bin/python" -c 'import app; print(app.__version__)')

# The app icon: a 1024 px PNG that PyInstaller turns into .icns (with Pillow).
"$venv/bin/python" packaging/render_icons.py resources/plan-runner.svg build/icon 1024
export PLAN_RUNNER_ICON="$PWD/build/icon/1024x1024/apps/plan-runner.png"
"$venv/bin/pyinstaller" --noconfirm --workpath build/pyinstaller \
  --distpath build/bundle packaging/plan-runner.spec

app="build/bundle/Plan Runner.app"
plist="$app/Contents/Info.plist"
[ "$(/usr/libexec/PlistBuddy -c 'Print :CFBundleShortVersionString' "$plist")" = "$version" ]
[ "$(/usr/libexec/PlistBuddy -c 'Print :CFBundleIdentifier' "$plist")" = \
  "io.github.planrunner.PlanRunner" ]

codesign --deep --force --options runtime --timestamp --sign "$IDENTITY" "$app"
codesign --verify --deep --strict --verbose=2 "$app"

dmg="dist/plan-runner-$version-macos-$(uname -m).dmg"
mkdir -p dist
rm -f "$dmg"
hdiutil create -volname "Plan Runner" -srcfolder "$app" -fs HFS+ -format UDZO "$dmg"
codesign --timestamp --sign "$IDENTITY" "$dmg"

xcrun notarytool submit "$dmg" --keychain-profile "$NOTARY_PROFILE" --wait
xcrun stapler staple "$dmg"
xcrun stapler validate "$dmg"
spctl --assess --type open --context context:primary-signature --verbose "$dmg"
echo "Built $dmg"
