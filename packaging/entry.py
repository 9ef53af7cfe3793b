"""The frozen program's entry point (PyInstaller runs this file, not a console script)."""

import multiprocessing

if __name__ == "__main__":
    # The file reader spawns worker processes; in a frozen program each re-runs this
    # executable, and freeze_support turns such a run into the worker instead of the app.
    multiprocessing.freeze_support()
    from codanna_desktop.launch import main

    raise SystemExit(main())
