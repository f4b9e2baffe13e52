"""Google's control plane: one module per admin API (Cloud Run, IAM, Resource Manager, Secret Manager), their
shared JSON conventions and IAM policies, and the emulator's own admin endpoint. Handlers write the state in
``core`` and tell the serving side to reconcile through ``EmulatorContext.runtime``; they never import ``serving``.
"""

__all__: list[str] = []
