"""A reproducible load benchmark of `gql-app serve` beside a raw-driver floor server.

`python -m bench` (or `bench/run`) seeds PostgreSQL, starts the servers, drives them with
`wrk` from a separate process and prints per operation: throughput, latency, errors, SQL
statements per request, server CPU and peak RSS, and gql_app's ratio to the floor.
"""
