"""
What the emulators in the provider folders share: the fault vocabulary
(:mod:`._faults`) and the emulators' one recurrence engine (:mod:`._recur`).

Each provider folder's ``_emulator`` module serves that provider's paths in
:mod:`wecal.sandbox`; the sandbox finds them through the registry
(:data:`wecal.providers._registry.PROVIDERS`). These modules live here, below
the sandbox, so an emulator never imports :mod:`wecal.sandbox` at run time.
"""
