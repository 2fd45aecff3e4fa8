"""Heartsong's inference engine for the HeartMuLa model family (torch only, no UI).

Public pieces live in their own modules; importing this package stays cheap on purpose
(no torch import here), so the CLI can answer `--help` and bad arguments instantly.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
