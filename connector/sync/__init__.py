"""The worker and what it runs: job claims and heartbeats, media capture, CRM sync, sends,
retries and the periodic housekeeping.

`connector.sync` may import everything below the API (README, Development: the layer table).
"""
