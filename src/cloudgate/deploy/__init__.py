"""Shipping to Cloud Run: a pure plan of gcloud steps, the runner that executes it, and the read-back audit.

- ``options``: what a deploy asks for (``DeployOptions``) and the names derived from it.
- ``plan``: steps 1-5 as gcloud commands, computed from the options and the observed state (no I/O).
- ``service_spec``/``audit``/``readback``: reading gcloud's JSON and judging it (no I/O).
- ``gcloud``/``observe``/``runner``/``smoke``: running gcloud, reading the project, executing the plan.

Imports only cloudgate's bottom layer (``errors``, ``google``); never the service, client or emulator.
"""

#: The CLI imports the modules it runs; the package itself offers no names of its own.
__all__: list[str] = []
