"""Lead recommendations (story 3.4): a conversion-propensity model per organization, the next
best action per lead, cached in Redis."""
