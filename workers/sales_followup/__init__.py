"""The sales follow-up: Cesce's sales list (recent movements), compared with the last known sales, as sale changes."""

from workers.sales_followup.spec import SalesFollowupTopics, sales_followup_spec

__all__ = ["SalesFollowupTopics", "sales_followup_spec"]
