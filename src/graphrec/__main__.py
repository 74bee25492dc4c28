from graphrec.cli import main

raise SystemExit(main())
