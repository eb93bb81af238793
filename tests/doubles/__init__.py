"""In-process doubles of the outside services the worker talks to."""
