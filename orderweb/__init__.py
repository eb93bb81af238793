"""The web side: the customer portal, inbound mail, the Stripe webhook receiver and the codec server."""
