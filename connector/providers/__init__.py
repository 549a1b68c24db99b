"""Messaging providers: verify a webhook and parse it into core events, one module per provider.

`connector.providers` may import only the core and httpx (the README's layer table, Development).
"""
