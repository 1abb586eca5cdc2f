"""Tasks layer (publish, report): the self-contained HTML report of one release, built from its directory.

Charts (plotly, plotly.js embedded once, no network) and plain tables of the manifest's counts.
A derived view: never listed in the manifest nor hashed. No Prefect, no warehouse connection.
"""
