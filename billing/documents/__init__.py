"""Billing's ground floor: what a document is, independent of who issues or pays it.

Numbering, the seller's and buyer's snapshots, totals and VAT per rate, and billing
periods. Pure functions over models and values: nothing here issues a document, records
a payment or sends anything (docs/architecture.md, "Billing's layers").
"""
