"""JSON as gcloud 528 prints it, for the audit and the read-back to be tested on.

Shapes follow gcloud's own API client (``generated_clients/apis/run/v1/run_v1_messages.py``: ``Service``,
``ObjectMeta``, ``RevisionSpec``, ``Container``, ``EnvVar``/``SecretKeySelector``, ``Volume``/``SecretVolumeSource``
/``KeyToPath``, ``VolumeMount``, ``ServiceStatus``/``GoogleCloudRunV1Condition``; ``Policy``/``Binding``), printed
the way ``--format=json`` prints messages: camelCase keys, annotations as strings, empty fields left out.
Each function returns a fresh copy that a test may change.
"""

from __future__ import annotations

import copy
from typing import Any

PROJECT, REGION, SERVICE = "my-proj", "europe-west1", "api"
RUNTIME = "api-runtime@my-proj.iam.gserviceaccount.com"
URL = "https://api-123456789012.europe-west1.run.app"
IMAGE = "europe-west1-docker.pkg.dev/my-proj/cloudgate/api:src-0123456789ab"
#: The one invoker the deploy was asked for (``--invoker``), and the policy holds.
INVOKER = "serviceAccount:etl@my-proj.iam.gserviceaccount.com"

_SERVICE: dict[str, Any] = {
    "apiVersion": "serving.knative.dev/v1",
    "kind": "Service",
    "metadata": {
        "annotations": {
            "run.googleapis.com/client-name": "gcloud",
            "run.googleapis.com/client-version": "528.0.0",
            "run.googleapis.com/ingress": "all",
            "run.googleapis.com/ingress-status": "all",
            "run.googleapis.com/invoker-iam-disabled": "False",
            "run.googleapis.com/operation-id": "7e4b3a52-0d3c-4a8e-9a43-2f1f3c1e9b10",
            "run.googleapis.com/urls": f'["{URL}","https://api-abcdefghij-ew.a.run.app"]',
            "serving.knative.dev/creator": "me@example.com",
            "serving.knative.dev/lastModifier": "me@example.com",
        },
        "creationTimestamp": "2026-11-30T18:00:00.000000Z",
        "generation": 2,
        "labels": {"cloud.googleapis.com/location": REGION},
        "name": SERVICE,
        "namespace": "123456789012",
        "resourceVersion": "AAYjQ2vJ1X0",
        "selfLink": f"/apis/serving.knative.dev/v1/namespaces/123456789012/services/{SERVICE}",
        "uid": "0b7f3a8e-6a0e-4e55-8d9b-2b7b8f3f1c11",
    },
    "spec": {
        "template": {
            "metadata": {
                "annotations": {
                    "autoscaling.knative.dev/maxScale": "100",
                    "run.googleapis.com/client-name": "gcloud",
                    "run.googleapis.com/client-version": "528.0.0",
                    "run.googleapis.com/startup-cpu-boost": "true",
                },
                "labels": {"client.knative.dev/nonce": "xkqwmvlyzd", "run.googleapis.com/startupProbeType": "Default"},
            },
            "spec": {
                "containerConcurrency": 80,
                "containers": [
                    {
                        "env": [
                            {"name": "CLOUDGATE_IDENTITY", "value": "cloud-run"},
                            {"name": "CLOUDGATE_DOCS_USERS_FILE", "value": "/secrets/docs-users/users"},
                            {"name": "CLOUDGATE_KEYSTORE", "value": "file:///secrets/api-keys/keys.json"},
                        ],
                        "image": IMAGE,
                        "ports": [{"containerPort": 8080, "name": "http1"}],
                        "resources": {"limits": {"cpu": "1000m", "memory": "512Mi"}},
                        "startupProbe": {
                            "failureThreshold": 1,
                            "periodSeconds": 240,
                            "tcpSocket": {"port": 8080},
                            "timeoutSeconds": 240,
                        },
                        "volumeMounts": [
                            {"mountPath": "/secrets/docs-users", "name": "api-docs-users-rof-qat"},
                            {"mountPath": "/secrets/api-keys", "name": "api-api-keys-mex-dal"},
                        ],
                    }
                ],
                "serviceAccountName": RUNTIME,
                "timeoutSeconds": 300,
                "volumes": [
                    {
                        "name": "api-docs-users-rof-qat",
                        "secret": {"items": [{"key": "latest", "path": "users"}], "secretName": "api-docs-users"},
                    },
                    {
                        "name": "api-api-keys-mex-dal",
                        "secret": {"items": [{"key": "latest", "path": "keys.json"}], "secretName": "api-api-keys"},
                    },
                ],
            },
        },
        "traffic": [{"latestRevision": True, "percent": 100}],
    },
    "status": {
        "address": {"url": URL},
        "conditions": [
            {"lastTransitionTime": "2026-11-30T18:00:30.000000Z", "status": "True", "type": "Ready"},
            {"lastTransitionTime": "2026-11-30T18:00:25.000000Z", "status": "True", "type": "ConfigurationsReady"},
            {"lastTransitionTime": "2026-11-30T18:00:30.000000Z", "status": "True", "type": "RoutesReady"},
        ],
        "latestCreatedRevisionName": "api-00002-qoz",
        "latestReadyRevisionName": "api-00002-qoz",
        "observedGeneration": 2,
        "traffic": [{"latestRevision": True, "percent": 100, "revisionName": "api-00002-qoz"}],
        "url": URL,
    },
}

_POLICY: dict[str, Any] = {
    "bindings": [{"members": [INVOKER], "role": "roles/run.invoker"}],
    "etag": "BwYjQ2vJ1X0=",
    "version": 1,
}

_PROJECT_POLICY: dict[str, Any] = {
    "bindings": [
        {"members": ["user:me@example.com"], "role": "roles/owner"},
        {"members": ["serviceAccount:123456789012-compute@developer.gserviceaccount.com"], "role": "roles/editor"},
    ],
    "etag": "BwYjQ2vJ1X1=",
    "version": 1,
}


def service() -> dict[str, Any]:
    return copy.deepcopy(_SERVICE)


def policy() -> dict[str, Any]:
    return copy.deepcopy(_POLICY)


def project_policy() -> dict[str, Any]:
    return copy.deepcopy(_PROJECT_POLICY)


def container(described: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = described["spec"]["template"]["spec"]["containers"][0]
    return result
