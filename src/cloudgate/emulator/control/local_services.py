"""Services a local command deploys (``cloudgate dev``, ``cloudgate emulator run -- CMD``): the admin API's door.

Google has no API for "put the front end on this port" or "run this local command as the container", so
``PUT /admin/services/NAME`` ``{"service": <Knative Service>, "port": N}`` takes them; everything else is what
``gcloud run deploy`` gets: the same checks (``run_services.parse``), the same service object and revisions
(``run_services.apply``), run by the same runtime. The service is in ``gcloud run services list`` at once, its IAM
policy is read and set with gcloud, and its bindings made before (``cloudgate emulator services grant``) stay.

Example::

    answer = httpx.put(f"{emulator}/admin/services/dev", json={"service": knative_body, "port": 8080})
    # then GET /admin/services/dev until status.conditions has Ready True (or False, with the reason)
"""

from __future__ import annotations

import logging
from typing import Any

from cloudgate.emulator.core import run_services
from cloudgate.emulator.core.api_error import ApiError
from cloudgate.emulator.core.context import EmulatorContext
from cloudgate.emulator.core.state import DEFAULT_REGION, service_key
from cloudgate.errors import EmulatorError

logger = logging.getLogger(__name__)


def deploy_local(ctx: EmulatorContext, name: str, body: dict[str, Any], port: int) -> dict[str, Any]:
    """Create or replace service ``name`` with its front end on ``port`` (0: any) and roll it out; its Knative
    object as the API answers it (``Ready`` is ``Unknown`` until the revision listens)."""
    if ctx.runtime is None:
        raise ApiError(503, "this emulator runs no revisions (it was started without a revision runtime)")
    parsed = run_services.parse(ctx.store.current(), body, name=name)
    key = service_key(DEFAULT_REGION, name)
    try:
        url = ctx.runtime.reserve_url(key, port)
    except EmulatorError as exc:
        raise ApiError(409, f"service {name} cannot listen on port {port}: {exc}") from exc
    if port and not url.endswith(f":{port}"):
        raise ApiError(409, f"service {name} already listens at {url}, not on port {port}")
    tag_urls = {tag: ctx.runtime.reserve_tag_url(key, tag) for tag in parsed.tags}
    with ctx.store.edit() as state:
        run_services.ensure_compute_account(state)
        record, changed = run_services.apply(state, key, DEFAULT_REGION, parsed, url=url, tag_urls=tag_urls)
        record.url = url  # the port asked for, even where an earlier run of the command had another
        if changed:
            run_services.mark_deploying(record)
        else:
            run_services.mark_routed(record)
    ctx.runtime.rollout(key)
    logger.info("service %s deployed through the admin API on %s (new revision: %s)", name, url, changed)
    return run_services.knative_json(ctx.store.current(), key)


def describe(ctx: EmulatorContext, name: str) -> dict[str, Any]:
    """Service ``name`` (of the default region) as the Knative API answers it; 404 if there is none."""
    state = ctx.store.current()
    key = service_key(DEFAULT_REGION, name)
    service = state.services.get(key)
    if service is None or not service.resource:
        raise ApiError(404, f"Resource '{name}' of kind 'SERVICE' does not exist.")
    return run_services.knative_json(state, key)
