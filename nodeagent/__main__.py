"""`python -m nodeagent` runs the command line."""

from nodeagent.cli import main

raise SystemExit(main())
