"""The frozen program's entry point (PyInstaller runs this file, not a console script)."""

import multiprocessing
import sys

if __name__ == "__main__":
    # The file reader spawns worker processes; in a frozen program each re-runs this
    # executable, and freeze_support turns such a run into the worker instead of the app.
    multiprocessing.freeze_support()
    if sys.argv[1:2] == ["--embedding-model-process"]:
        # The desktop app's embedding model runs in this program started again with that
        # flag (codanna_desktop/core/semantic/model_process.py, MODEL_PROCESS_ARG).
        from codanna_desktop.core.semantic.model_process import serve

        raise SystemExit(serve())
    from codanna_desktop.launch import main

    raise SystemExit(main())
