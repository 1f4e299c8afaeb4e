"""The credit-requests worker: ERP credit requests -> Cesce classifications -> ``cesce.classification-results``."""

from workers.credit_requests.spec import CreditRequestsTopics, credit_requests_specs

__all__ = ["CreditRequestsTopics", "credit_requests_specs"]
