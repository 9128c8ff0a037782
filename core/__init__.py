"""The ground layer: code every app may build on, which itself imports no app.

Dependencies point one way (docs/architecture.md): ``portal`` → ``billing`` →
``privacy`` → ``accounts`` → ``core``. Nothing here imports ``accounts``, ``privacy``,
``billing`` or ``portal``, nor any model, so any app may import it without creating an
import cycle. It is a plain package, not a Django app: it has no models, templates or
migrations.

- ``core.registry``: the personal-data registry's declaration API (``personal_data``,
  ``Category``, ``Retention``, ``Erasure``...), used next to every model that holds
  personal data.
- ``core.background``: the Celery task class (``TransactionAwareTask``) that queues a
  task only once the transaction that asked for it has committed.
- ``core.pagination`` and ``core.links``: a page of a long list (``paginate``, the same on
  every customer page) and each row's link reversed once per page (``row_link``).
"""
