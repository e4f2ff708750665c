"""The lead vocabulary every domain shares: records and statuses (records.py), phone numbers in
E.164 (phones.py), and the cleaning of names, e-mails, tags and sources (cleaning.py)."""
