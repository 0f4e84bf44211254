from minifb.adapters.events.base import (
    BatchHandler,
    Event,
    EventBus,
    Handler,
    NotAllPublished,
)
from minifb.adapters.events.memory import MemoryEventBus


def create_event_bus(url: str, *, prefix: str = "mini-facebook-") -> EventBus:
    """The bus named by `MINIFB_EVENTS_URL`; a broker's names start with `prefix`."""
    if url.startswith("memory://"):
        return MemoryEventBus()
    if url.startswith(("amqp://", "amqps://")):
        # Imported here: the embedded tier never loads the AMQP client.
        from minifb.adapters.events.rabbitmq import RabbitMQEventBus

        return RabbitMQEventBus(url, prefix=prefix)
    raise ValueError(f"unsupported events URL scheme: {url.split(':', 1)[0]!r}")


__all__ = [
    "BatchHandler",
    "Event",
    "EventBus",
    "Handler",
    "MemoryEventBus",
    "NotAllPublished",
    "create_event_bus",
]
