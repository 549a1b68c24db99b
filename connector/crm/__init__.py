"""CRM adapters: one module per CRM behind the one `CrmAdapter` interface of `base.py`.

`connector.crm` may import the core, the mapping and its CRM's SDK; nothing above an adapter
ever sees an SDK exception: adapters raise `connector.core.errors` classes only. Adapters take
values (a token, a `SalesforceConfig`), which the composition root reads from the settings.
"""
