"""What keeps customers' data and links safe.

The payload codec and its keys (``codec``) and the signed email links (``links``).
It imports no workflow, activity, client or web code, so each of them can use it.
"""
