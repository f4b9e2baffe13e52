"""The ``cloudgate`` command's entry point: ``serve`` starts without the CLI framework, the rest goes to typer.

``cloudgate serve`` is the image's entrypoint, and a Cloud Run instance pays its start-up on every scale-up:
importing typer and rich (and every command group's module) cost about 5% of a bare FastAPI app's start
(docs/performance.md). So well-formed ``serve`` flags are read here (``serve_argv``) and the server starts at
once; ``--help``, anything malformed and every other command go to ``cloudgate.cli.main``, unchanged.
"""

from __future__ import annotations

import sys

from cloudgate.errors import CloudgateError


def main() -> None:
    """Run ``cloudgate``: ``serve`` directly when its flags are well-formed, else the typer CLI."""
    argv = sys.argv[1:]
    if argv[:1] == ["serve"]:
        from cloudgate.cli.serve_argv import parse_serve_argv
        from cloudgate.cli.serve_run import run_serve

        args = parse_serve_argv(argv[1:])
        if args is not None:
            try:
                run_serve(args)
            except CloudgateError as exc:
                _exit_with(exc)
            except KeyboardInterrupt:  # as click's standalone mode answers Ctrl-C
                print("Aborted!", file=sys.stderr)
                sys.exit(1)
            return
    from cloudgate.cli.main import main as typer_main

    typer_main()


def _exit_with(exc: CloudgateError) -> None:
    """The typer CLI's answer to a ``CloudgateError``: ``error: ...`` in red on stderr, and the error's exit code."""
    import typer  # an error path: the CLI's own styling, loaded only now

    typer.secho(f"error: {exc}", err=True, fg="red")
    sys.exit(exc.exit_code)
