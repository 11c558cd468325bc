"""Writers of fulfillment: release and re-routing (routing.py), location actions (actions.py),
ship-to-store receipts (transfers.py), SLA escalation and expiry (deadlines.py), pickup
codes (pickup_codes.py) and each location's rejection rate (rejection_rates.py)."""
