"""The example service: a dataset API on DuckDB, secured by ``cloudgate.service``.

Users replace this package with their own service; it is written to be read as a reference of how a
cloudgate service is put together: ``main.create_app`` builds the FastAPI app and hands it to
``cloudgate.service.protect``, routes declare the scope they need through the aliases in ``deps``.
"""
