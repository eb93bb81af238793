"""The client library: connect to Temporal (``connection``) and act on orders (``client.OrderClient``, ``contract``).

It loads no workflow code: action names and models come from ``workflows.names``,
``workflows.models`` and ``workflows.action_registry``.
"""
