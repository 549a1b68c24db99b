"""The connector's database: tables, repositories, Alembic migrations, the job queue, and the
state every process shares (rate budgets, CRM caches).

`connector.store` imports only the core (README, Development: the layer table).
"""
