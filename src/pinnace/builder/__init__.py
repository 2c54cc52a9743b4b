"""The operator scaffold (``pinnace builder``): kubebuilder's workflow for the Pinnace SDK.

:mod:`.scaffold` does the work (init, create api, generate, install,
uninstall, run); :mod:`.templates` holds the files it writes.
"""
