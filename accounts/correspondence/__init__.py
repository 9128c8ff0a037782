"""Correspondence: the outbound mail gateway and the inbound mail archive (DESIGN.md mechanism 2).

- ``gateway.send_mail`` is the only way the portal sends email.
- ``delivery.deliver`` hands a stored message to the mail server, once.
- ``inbound.receive`` stores every email a customer sends us, matched or quarantined.
"""
