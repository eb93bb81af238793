"""The ``orders`` command line and its embedded development server."""
