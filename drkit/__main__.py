"""`python -m drkit`."""

from __future__ import annotations

from drkit.cli.main import main

if __name__ == "__main__":
    main()
