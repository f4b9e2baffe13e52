"""Google's identity endpoints: the OAuth token endpoint and certs, the metadata server, IAM Credentials, and
the lifecycle of service accounts, their keys and users. Reads and writes the state in ``core``; imports neither
``control`` nor ``serving``.
"""

__all__: list[str] = []
