from shouwang.cli import main

raise SystemExit(main())
