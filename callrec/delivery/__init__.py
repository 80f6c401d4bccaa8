"""Email delivery of recordings over the Delivery outbox (docs/delivery.md)."""
from .worker import DeliveryWorker, RunSummary

__all__ = ["DeliveryWorker", "RunSummary"]
