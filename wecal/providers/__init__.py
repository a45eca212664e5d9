"""
Provider adapters: one module per provider API.

The wire rules every adapter shares live here too: :mod:`._errors` maps each
provider's error codes onto the :class:`wecal.WecalError` tree, and
:mod:`._dialects` says how each API fetches and places its token and how it
reports errors. The HTTP core (:mod:`wecal._http`) is the only code that
sends requests; adapters build requests and convert payloads.
"""
