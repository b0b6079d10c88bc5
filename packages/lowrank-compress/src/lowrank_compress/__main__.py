from lowrank_compress.cli import main

raise SystemExit(main())
