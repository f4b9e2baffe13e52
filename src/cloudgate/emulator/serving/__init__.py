"""Cloud Run's data plane: the IAM front end, revisions and their instances, the runners that start a process
or a container, and h2c. It reconciles running revisions to the state the control plane writes; it never
imports the API handlers in ``control``.
"""

__all__: list[str] = []
