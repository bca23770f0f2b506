"""strikeflow: trading signals in, stock and option orders out, every execution on record."""

__version__ = "0.1.0"
