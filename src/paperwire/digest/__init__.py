"""The daily digest: subscriptions, personalised selection, rendering and exactly-once sending."""
