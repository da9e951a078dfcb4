"""``python -m mailclean``."""

from mailclean.cli import main

main()
