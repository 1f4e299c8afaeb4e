"""The invoices worker: ERP invoice changes -> Cesce sales -> ``cesce.sale-results``."""

from workers.invoices.spec import InvoicesTopics, invoices_spec, invoices_specs

__all__ = ["InvoicesTopics", "invoices_spec", "invoices_specs"]
