"""The non-payments worker: ERP unpaid invoices -> Cesce claims -> ``cesce.non-payment-results``.

Its companion, the claims poller, follows each claim file the worker opened and publishes the
changes of its documents and settlements to ``cesce.claim-updates``.
"""

from workers.non_payments.spec import NonPaymentsTopics, non_payments_specs

__all__ = ["NonPaymentsTopics", "non_payments_specs"]
