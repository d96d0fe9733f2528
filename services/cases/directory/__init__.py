"""The workspace directory: users, groups, roles, API keys, and signing in.

Workspaces are tenants: every record carries its ``workspace`` and every
lookup is scoped by it. The cases service owns this data; the gateway asks
``/internal/v1/authenticate`` who a credential belongs to and passes the
resulting ``casemesh.identity.Identity`` to every service.
"""
