"""``python -m sipguard``: the same as the ``sipguard`` command."""

from sipguard.cli import main

raise SystemExit(main())
