"""`python -m app.cli`: the `haochaping` command."""

from app.cli import main

raise SystemExit(main())
