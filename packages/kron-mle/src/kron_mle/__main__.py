from kron_mle.cli import main

raise SystemExit(main())
