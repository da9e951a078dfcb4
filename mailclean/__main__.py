"""``python -m mailclean``."""

from mailclean.cli import main

# The guard matters: sync's worker processes re-import the main module when they start.
if __name__ == "__main__":
    main()
