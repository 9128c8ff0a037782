"""The accountants' exports: period reports of invoices, credit notes, payments, refunds,
balances, VAT and services, in CSV, XLSX, Xero and Sage 50 formats (docs/accounting.md).

Layers inside (each imports only those above it in this list's reverse): ``periods`` and
``codes`` (pure rules and the codes staff keep), ``reports`` (what each export contains,
read as a stream), ``formats`` (how it is written), ``exports`` (the service: validate,
write, store, record the disclosure).
"""
