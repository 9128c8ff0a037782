"""What the usage benchmarks share: services to measure, set up with bulk inserts."""

from __future__ import annotations


def services(n: int, label: str) -> list[int]:
    """Ids of ``n`` services of ``n`` customers named for ``label`` (made once, reused)."""
    from accounts.models import Customer, LegalForm, Service

    name = f"Bench {label} "
    existing = list(Service.objects.filter(customer__registered_name__startswith=name).order_by("pk"))
    if len(existing) >= n:
        return [service.pk for service in existing[:n]]
    start = len(existing)
    customers = Customer.objects.bulk_create(
        [
            Customer(
                legal_form=LegalForm.LIMITED_COMPANY,
                registered_name=f"{name}{i:05d} Ltd",
                company_number=f"U{i:07d}",
                address_line1=f"{i} Bench Street",
                town="Exampletown",
                postcode="EX1 1AA",
                country="GB",
            )
            for i in range(start, n)
        ],
        batch_size=1000,
    )
    if customers and customers[0].pk is None:
        customers = list(Customer.objects.filter(registered_name__startswith=name).order_by("pk"))[start:]
    Service.objects.bulk_create(
        [
            Service(customer=customer, name=f"bench-{i}", kind=Service.Kind.VPS, platform=Service.Platform.VIRTUAL)
            for i, customer in enumerate(customers, start)
        ],
        batch_size=1000,
    )
    return list(
        Service.objects.filter(customer__registered_name__startswith=name).order_by("pk").values_list("pk", flat=True)
    )[:n]
