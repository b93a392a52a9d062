"""The rules, one module per family; each takes an :class:`AuditContext` and returns problems."""
