from interp_tools.cli import main

raise SystemExit(main())
