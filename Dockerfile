# The cloudgate service image, as Cloud Run runs it: `cloudgate serve` on 0.0.0.0:$PORT as a non-root user.
#
#   docker build -t cloudgate .                                    # ships app/ (the example)
#   docker build -t mine --build-arg APP_DIR=myservice --build-arg APP=myservice.main:create_app .
#
# BASE defaults to the official slim Python image; any Debian-like image with python3 (3.11+) and its venv
# module works (scripts/build-image.sh builds one with mmdebstrap where registries cannot be reached).
# Dependencies come from requirements/*.txt, exported from uv.lock with hashes (`make lock` refreshes them).
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
# pip checks TLS against the system's CA bundle (pip's own bundle would miss a build host's proxy CA).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    PYTHONDONTWRITEBYTECODE=1
# The wheel builder (hatchling) in a venv of its own: it never reaches the final image.
COPY requirements/build.txt /tmp/requirements/build.txt
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install --quiet --require-hashes -r /tmp/requirements/build.txt
# Dependencies before the code, so a code change reuses this layer.
COPY requirements/service.txt /tmp/requirements/service.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --quiet --no-compile --require-hashes -r /tmp/requirements/service.txt
COPY pyproject.toml README.md /tmp/cloudgate/
COPY src /tmp/cloudgate/src
RUN /opt/build/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /tmp/wheel /tmp/cloudgate \
 && /opt/venv/bin/pip install --quiet --no-compile --no-deps --no-index /tmp/wheel/*.whl \
 && /opt/venv/bin/pip uninstall --quiet --yes pip setuptools
ARG APP_DIR=app
COPY ${APP_DIR} /srv/${APP_DIR}
# Bytecode now, not at every cold start; unchecked-hash pycs stay valid whatever the files' times become.
RUN /opt/venv/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/venv /srv

FROM ${BASE}
ARG APP=app.main:create_app
# Root owns the code (read-only to the service); the service's user owns only its working folder.
RUN echo 'cloudgate:x:10001:10001:cloudgate service:/home/cloudgate:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'cloudgate:x:10001:' >> /etc/group \
 && mkdir -p /home/cloudgate && chown 10001:10001 /home/cloudgate && chmod 0700 /home/cloudgate
COPY --from=build /opt/venv /opt/venv
COPY --from=build /srv /srv
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PORT=8080 CLOUDGATE_APP=${APP} CLOUDGATE_APP_DIR=/srv
WORKDIR /home/cloudgate
USER 10001:10001
EXPOSE 8080
CMD ["cloudgate", "serve"]
