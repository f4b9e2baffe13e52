"""The bottom of the emulator: its typed state and what every room shares.

The state (accounts, services, policies, secrets) and its one store, the signing keys, the token authority that
mints and checks every token, the permission check, Google's error shape, and the context that bundles them.
Nothing here imports the rooms above (``identity``, ``control``, ``serving``); they all read it.
"""

__all__: list[str] = []
