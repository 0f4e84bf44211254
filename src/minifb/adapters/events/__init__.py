from minifb.adapters.events.base import Event, EventBus, Handler
from minifb.adapters.events.memory import MemoryEventBus


def create_event_bus(url: str) -> EventBus:
    """The bus named by `MINIFB_EVENTS_URL`."""
    if url.startswith("memory://"):
        return MemoryEventBus()
    raise ValueError(f"unsupported events URL scheme: {url.split(':', 1)[0]!r}")


__all__ = ["Event", "EventBus", "Handler", "MemoryEventBus", "create_event_bus"]
