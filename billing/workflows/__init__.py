"""Billing's workflows: the billing run, subscriptions, pro-forma settlement and crediting.

The only layer that calls both issuing and receivables, and so the one place where a
payment leads to a document (a paid payment request gets its VAT invoice) or a document
to a payment (a credit note gives back what it makes overpaid).
"""
