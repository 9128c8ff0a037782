"""The one lock order for a customer's documents and money."""

from __future__ import annotations

from accounts.models import Customer


def lock_customer(customer: Customer) -> None:
    """Lock the customer's row for the current transaction.

    Every write to a customer's documents or money (issuing, crediting, payments, refunds,
    subscriptions, the billing run) takes this lock first, then the rows it changes: one
    order, so two of them at once neither deadlock nor both spend the same credit.
    """
    Customer.objects.select_for_update().filter(pk=customer.pk).first()
