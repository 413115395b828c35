"""Business transactions: named at the edge, carried downstream in W3C baggage, bounded against hostile input."""
