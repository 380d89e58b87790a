# Builds the Windows installer of Plan Runner into dist\ (Windows only; needs Python
# 3.11+ and Inno Setup 6.3+ with iscc.exe on PATH). Run from anywhere:
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")

$venv = "build\packaging-venv"
if (-not (Test-Path "$venv\Scripts\python.exe")) { py -3 -m venv $venv }
& "$venv\Scripts\python" -m pip install -q ".[packaging]" pillow
& "$venv\Scripts\python" -m pip install -q --no-deps --force-reinstall .

# The one version: app/__init__.py.
$version = (& "$venv\Scripts\python" -c "import app; print(app.__version__)").Trim()

# The exe icon: a PNG rendered from the SVG, which PyInstaller converts (Pillow).
& "$venv\Scripts\python" packaging\render_icons.py resources\plan-runner.svg build\icon 256
$env:PLAN_RUNNER_ICON = (Resolve-Path "build\icon\256x256\apps\plan-runner.png").Path

& "$venv\Scripts\pyinstaller" --noconfirm --workpath build\pyinstaller `
  --distpath build\bundle packaging\plan-runner.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
$reported = (& "build\bundle\plan-runner\plan-runner.exe" --version).Trim()
if ($reported -ne "plan-runner $version") { throw "the bundle says '$reported'" }

iscc "/DAppVersion=$version" packaging\windows\plan-runner.iss
if ($LASTEXITCODE -ne 0) { throw "iscc failed" }
