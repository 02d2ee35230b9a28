from jettag.cli import main

raise SystemExit(main())
