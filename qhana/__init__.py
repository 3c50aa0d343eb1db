"""QHAna plugin runner and plugin registry on NATS JetStream."""

__all__ = ["__version__"]

__version__ = "0.1.0"
