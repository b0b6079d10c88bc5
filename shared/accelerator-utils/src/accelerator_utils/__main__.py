from accelerator_utils.cli import main

raise SystemExit(main())
