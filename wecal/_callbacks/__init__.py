"""
The building blocks of a provider's change callback, below both the provider
folders and :mod:`wecal.notifications`.

- ``_model``: the :class:`~wecal.notifications.Notification` a callback parses
  into, the answer it sends back (``CallbackAnswer``, ``CallbackDelivery``)
  and the ``ProviderCallback`` protocol the endpoint needs;
- ``_crypto``: the signed, AES-encrypted "msg crypt" scheme two providers share;
- ``_signed``: the callback skeleton those two build on that scheme;
- ``_envelope``: the ciphertext read from an envelope before anything else;
- ``_xml``: a small, safe reader for flat XML documents.

Each provider's callback class (``wecal/providers/<name>/_callback.py``) is
built from these; :mod:`wecal.notifications` re-exports the public names and
serves any callback the registry names. They sit with the model (they import
only :mod:`wecal.errors` and :mod:`wecal.models`, and send nothing), so the
providers never import :mod:`wecal.notifications` and the endpoint's package
can import the registry without a circle.
"""
