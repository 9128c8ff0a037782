"""Accounts receivable: payments, their allocation to documents, refunds, balances and
statements of account. Knows nothing of issuing: a workflow that needs both calls both
(``billing.workflows``)."""
