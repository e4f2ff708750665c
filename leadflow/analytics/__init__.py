"""Analytics: the dbt project (project.py) as Dagster assets (assets.py), and the HTML report."""
