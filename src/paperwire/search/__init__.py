"""Search: keyword and vector indexes, hybrid ranking, related papers and topic groups."""
