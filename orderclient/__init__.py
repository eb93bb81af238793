"""The client library: how any program connects to Temporal and acts on orders."""
