# Builds dist\codanna-desktop-<version>-windows-x64-setup.exe on Windows.
# UNTESTED: this project's machines run Linux only; the CI recipe runs it on windows-latest.
# Needs: Python 3.11+ and Inno Setup 6 (choco install innosetup).
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$version = (Select-String -Path codanna_desktop\__init__.py -Pattern '__version__ = "(.+)"').Matches[0].Groups[1].Value
$work = "build\packaging"
python -m venv "$work\venv"
& "$work\venv\Scripts\python" -m pip install -q --upgrade pip
$env:HNSWLIB_NO_NATIVE = "1"
& "$work\venv\Scripts\python" -m pip install -q --no-binary hnswlib "hnswlib>=0.8,<0.9"
& "$work\venv\Scripts\python" -m pip install -q "pyinstaller>=6.10" pillow .
$models = (& "$work\venv\Scripts\python" packaging\bundled_models.py "$work\models") -join ":"
& "$work\venv\Scripts\python" packaging\collect_licences.py "$work\doc" $models $version
# The .ico from the rendered PNGs (Pillow writes every size into one file).
& "$work\venv\Scripts\python" -c "from PIL import Image; Image.open('resources/icons/codanna-desktop-256.png').save('packaging/windows/codanna-desktop.ico', sizes=[(16,16),(24,24),(32,32),(48,48),(64,64),(128,128),(256,256)])"
$env:CODANNA_BUNDLE_MODELS = (Resolve-Path "$work\models").Path
$env:CODANNA_BUNDLE_MODEL_NAMES = $models
& "$work\venv\Scripts\pyinstaller" --noconfirm --distpath dist --workpath "$work\pyinstaller" packaging\codanna-desktop.spec
# Signing: signtool sign /fd SHA256 /tr <timestamp-url> /td SHA256 /a dist\codanna-desktop\codanna-desktop.exe
& "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" "/DAppVersion=$version" packaging\windows\codanna-desktop.iss
