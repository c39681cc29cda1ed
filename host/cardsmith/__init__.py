"""cardsmith: a smart-card toolkit for issuing, backing up, restoring and duplicating cards."""

__version__ = "0.1.0"
