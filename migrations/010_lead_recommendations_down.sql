-- Reverts 010_lead_recommendations.
drop table if exists recommendation_cache_state;
drop table if exists lead_recommendations;
drop table if exists lead_conversion_models;
