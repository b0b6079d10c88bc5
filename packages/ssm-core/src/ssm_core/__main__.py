from ssm_core.cli import main

raise SystemExit(main())
