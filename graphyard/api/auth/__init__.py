"""Authentication and authorization (docs/auth.md): ``langgraph.json``'s ``auth.path`` (a
``langgraph_sdk.Auth``) and the built-in API keys.

- ``load_auth`` builds the backend once per app;
- ``Authenticated`` protects a router (``dependencies=[Authenticated]``), ``AuthDep`` gives a
  route the caller's ``RequestAuth``;
- ``RequestAuth.authorize(resource, action, value)`` runs the matching handler and returns the
  filter storage applies in SQL (``graphyard.storage.filters``).
"""

from graphyard.api.auth.context import NOBODY, RequestAuth
from graphyard.api.auth.dependency import AuthDep, Authenticated, authenticate
from graphyard.api.auth.loading import AuthBackend, load_auth

__all__ = [
    "NOBODY",
    "AuthBackend",
    "AuthDep",
    "Authenticated",
    "RequestAuth",
    "authenticate",
    "load_auth",
]
