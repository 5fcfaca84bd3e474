"""Support-desk tools: look up an order and open a ticket, on an in-memory store."""

from __future__ import annotations

import itertools
import threading
from enum import StrEnum

from pydantic import BaseModel, Field

from livekitex_cli.tools import RunContext, function_tool

_ORDERS: dict[str, dict[str, object]] = {
    "A1001": {"status": "shipped", "carrier": "DHL", "eta": "2 days"},
    "A1002": {"status": "processing", "carrier": None, "eta": "5 days"},
    "A1003": {"status": "delivered", "carrier": "UPS", "eta": None},
}
_ticket_ids = itertools.count(1)
_tickets_lock = threading.Lock()


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    urgent = "urgent"


class Customer(BaseModel):
    name: str = Field(description="The customer's full name")
    email: str | None = Field(default=None, description="Where to send updates")


@function_tool(timeout=5)
def lookup_order(order_id: str) -> dict[str, object]:
    """Look up the status of an order by its id.

    Args:
        order_id: The order id, like "A1001".
    """
    order = _ORDERS.get(order_id.strip().upper())
    if order is None:
        return {"order_id": order_id, "found": False}
    return {"order_id": order_id.upper(), "found": True, **order}


@function_tool(timeout=5)
async def create_ticket(
    summary: str,
    customer: Customer,
    context: RunContext,
    priority: Priority = Priority.normal,
    tags: list[str] | None = None,
) -> dict[str, object]:
    """Open a support ticket for a problem the agent cannot solve.

    Args:
        summary: One sentence describing the problem.
        customer: Who the ticket is for.
        priority: How urgent it is.
        tags: Optional labels for the support team.
    """
    with _tickets_lock:
        number = next(_ticket_ids)
    room = (context.user_data or {}).get("room", "console")
    return {
        "ticket": f"T-{number:05d}",
        "summary": summary,
        "customer": customer.name,
        "priority": priority.value,
        "tags": tags or [],
        "room": room,
    }
