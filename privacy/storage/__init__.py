"""Storage access: staff reach a customer's virtual server's storage only under a grant
(docs/storage-access.md). Models, then services, then the customer's pages and the admin."""
