"""``python -m gateway`` is the ``cors-gateway`` command."""

from .cli import main

raise SystemExit(main())
