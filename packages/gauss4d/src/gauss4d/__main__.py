from gauss4d.cli import main

raise SystemExit(main())
