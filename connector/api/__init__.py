"""The HTTP edge: FastAPI routers for webhooks, the `/v1` API, media links, health and metrics,
and the composer, conversation and admin pages.

`connector.api` may import everything below it (README, Development: the layer table); nothing
imports it but the CLI.
"""
