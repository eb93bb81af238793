"""The ``orders`` command line, its development server (``orders dev``) and the Stripe test double it serves."""
