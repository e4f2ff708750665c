"""CRM integration over the vendors' APIs (story 3.12): pull leads with dlt, push status back."""
