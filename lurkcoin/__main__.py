"""Allow ``python -m lurkcoin``."""

from lurkcoin.cli import main

raise SystemExit(main())
