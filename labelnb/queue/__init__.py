"""The store and the shared task queue (SQLAlchemy Core; SQLite and PostgreSQL)."""

from labelnb.queue.queue import Item, Queue, Task
from labelnb.queue.routing import AnnotatorProfile, DefaultRouting, NoRouting, RoutingPolicy
from labelnb.queue.store import Store

__all__ = ["AnnotatorProfile", "DefaultRouting", "Item", "NoRouting", "Queue", "RoutingPolicy",
           "Store", "Task"]
