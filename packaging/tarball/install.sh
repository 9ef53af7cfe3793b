#!/bin/sh
# Installs this unpacked Codanna Desktop folder for the current user (or, as root, for
# everyone): a link on the PATH, the desktop entry and the icons. Run from the folder.
#   ./install.sh            install          ./install.sh --uninstall   undo it
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then prefix=/usr/local; else prefix=${XDG_DATA_HOME:-$HOME/.local/share}/..; fi
prefix=$(cd "$prefix" 2>/dev/null && pwd || echo "$prefix")
bin=$prefix/bin
share=$prefix/share
if [ "$(id -u)" != 0 ]; then bin=$HOME/.local/bin; share=${XDG_DATA_HOME:-$HOME/.local/share}; fi
if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$bin/codanna-desktop" "$share/applications/codanna-desktop.desktop"
  find "$share/icons/hicolor" -name 'codanna-desktop.*' -delete 2>/dev/null || true
  echo "Removed the link, the desktop entry and the icons (this folder stays: delete it yourself)."
  exit 0
fi
mkdir -p "$bin" "$share/applications"
ln -sf "$here/codanna-desktop" "$bin/codanna-desktop"
sed "s|^Exec=codanna-desktop|Exec=$here/codanna-desktop|; s|^TryExec=.*|TryExec=$here/codanna-desktop|" \
  "$here/share/applications/codanna-desktop.desktop" > "$share/applications/codanna-desktop.desktop"
cp -R "$here/share/icons" "$share/"
command -v update-desktop-database >/dev/null && update-desktop-database "$share/applications" || true
echo "Installed: $bin/codanna-desktop and the desktop entry (start it from the menu)."
