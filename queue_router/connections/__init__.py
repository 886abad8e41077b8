"""How queue-router reaches Redis, and what it says when it cannot.

``redis_client``: clients as we open them (blocking pools, explicit timeouts, no hidden
retries, TLS from the settings); ``one_connection``: one connection every concurrent
caller writes to, replies in order (the Bull adds, the placement memory, the shadow
handoff); ``diagnose``: from a low-level connection error to the setting that fixes it;
``redact``: a URL with its password replaced, for errors and logs.

Leaf modules: the backends import them, and they import nothing of the router.
"""
