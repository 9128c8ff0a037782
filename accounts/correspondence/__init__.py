"""Correspondence: the outbound mail gateway and the inbound mail archive (docs/correspondence.md).

- ``gateway.send_mail`` is the only way the portal sends email; it stores the message
  and queues ``accounts.tasks.deliver_message``.
- ``delivery.deliver`` hands a stored message to the mail server, once (``deliver_many``
  a batch of them on one connection); the tasks call it, and it imports neither them nor
  the gateway.
- ``inbound.receive`` stores every email a customer sends us, matched or quarantined.
"""
