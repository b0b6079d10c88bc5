from gnn_explain.cli import main

raise SystemExit(main())
