"""Online prediction: the `:predict` route and its request parsing, the traffic-split table, model loading
and dynamic batching, and the Prometheus metrics of every request."""
