from codanna_desktop.cli import main

raise SystemExit(main())
