"""Delivery of billing documents: the one PDF renderer, and the email that carries an
issued document to the customer's billing contacts."""
